// Package template turns request paths into endpoint templates, so /users/123 and
// /users/456 are one endpoint: /users/{id}.
//
// # Placeholders
//
// Three kinds of template segment, used consistently:
//
//   - {id}: a segment the classifier recognises as an identifier (Classify): numbers,
//     UUIDs, hex of 8+, base64url-like tokens and long random slugs, emails, dates, IPv4
//     addresses, prefixed ids (ORD-12345); an id with a file extension keeps it
//     (123.json becomes {id}.json). One placeholder for all of them: the analyzer groups
//     by template, and the class adds nothing an analyst needs there.
//   - {param}: a position learned online to hold too many distinct values to be a name.
//   - {name}: from an OpenAPI document, the document's own parameter names
//     (/users/{userId}).
//
// Version names (v1, v2beta1, 1.0) and ordinary words stay literal, as do file names that
// are not ids (/files/report-2024.pdf).
//
// # Learning
//
// Per host (lower-cased, port ignored) and method, the segments left literal are counted
// at each position keyed by the template of the segments before it (a prefix tree): the
// values after /users, the values after /repos/{param}. When more than Threshold distinct
// values have been seen at a position, it becomes {param} for the calls after that
// (earlier calls keep the literal they were given; a templates file carries what was
// learned into the next run). Memory is bounded: each
// position keeps at most Threshold+1 values, and caps bound hosts and positions (counted
// in apiscope_template_capped_total when hit); segments longer than 64 bytes and prefixes
// longer than 512 bytes are not learned.
//
// # Determinism
//
// The sensor builds calls on several workers, and the same capture must give the same
// templates with 1 or N of them. Learning makes a call's template depend on the calls
// seen before it, so it is kept out of the workers: they call Static, which applies only
// what is fixed during a run (classifier, OpenAPI documents, loaded templates), and the
// sensor's ordered output stage, one goroutine that sees every call in an order that does
// not depend on the number of workers, calls Template. Output is then identical for any
// worker count by construction.
//
// Template is also safe for concurrent callers, and the learned state does not depend on
// the order calls arrive in: a position keeps the Threshold+1 distinct values with the
// earliest first-seen capture times (a set independent of arrival order), the merge time
// is the latest of those, and a call at capture time t renders the position as {param}
// only if the merge time is before t - LearnDelay. Concurrent callers that never run
// more than LearnDelay of capture time apart therefore get the same results as one
// caller; a call that arrives later than that is counted in apiscope_template_late_total.
//
// # OpenAPI
//
// Documents given with LoadOpenAPI name templates exactly. A call to a host a document
// covers gets the document's template when a documented path matches (literal segments
// before parameters, as OpenAPI orders them) and Shadow when the path or the method is
// not documented; shadow calls still get a heuristic template. Hosts without a document
// are templated heuristically and are never shadow.
//
// # Persistence
//
// Save and Load write and read the learned positions as versioned JSON (SavedTemplates),
// so a restarted sensor keeps what it learned.
package template

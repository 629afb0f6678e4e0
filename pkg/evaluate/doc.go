// Package evaluate scores a detector against simulated ground truth.
//
// Score matches findings (models.Finding) to the incidents of a labels.json: an incident
// is detected when a finding of at least the minimum severity (medium) has its ts in
// [start, end + grace (300 s)] and names the incident's principal, or its client_ip or
// one of its related_ips is one of the incident's IPs. Findings that detect nothing and
// name a benign client make that client a false-alert client; findings that name neither
// are counted as unattributed alerted entities.
//
// Entity-level precision counts entities, not findings, so a detector is not rewarded
// for repeating itself: precision = detected incidents / (detected incidents +
// false-alert clients + unattributed entities); F1 is the harmonic mean of that and
// recall (detected incidents / incidents).
//
// CompareCalls checks a sensor's calls (models.APICall JSON Lines) against truth.jsonl.
package evaluate

// Package scenario is the YAML model of a simulated API world: services and their
// endpoints, the objects clients own, client kinds and counts, workflows (Markov chains
// over endpoints), benign events that fool naive detectors (deploys, outages) and the
// attacks with their timing.
//
// Built-in scenarios are ordinary scenario files embedded in the binary (see Builtins).
// Load accepts a built-in name or a file path; Parse decodes and validates bytes. A
// validated Scenario is read-only and safe to share.
//
// Times inside the capture are given as fractions of its duration (0.5 is half-way), so
// one file works at every scale; lengths of things (a session's think time, an outage)
// are durations such as "90s" or "5m". docs/SCENARIOS.md documents every field.
package scenario

// Package analyzer learns what each API client normally does and reports, with its
// reasons, when a client departs from it.
//
// # Flow
//
// Calls (models.APICall) enter Engine.Process in any order across clients and in capture
// order per client. A small reorder buffer releases them by capture time behind a watermark
// (Config.Lateness), with a total order on ties, so the output never depends on goroutine
// scheduling or partition interleaving. For each released call the engine:
//
//  1. derives an Observation: the endpoint id (host, method, template), the object id in
//     the path, whether endpoint and object are new for the client, the transition
//     probability from the previous call (client model backed off to its cohort and the
//     population), the population's knowledge of the endpoint;
//  2. hands the call, the client's Profile and the Observation to every Detector, which may
//     raise Signals;
//  3. updates the profile, its cohort and the population.
//
// Signals go to the incident manager, which merges signals for one client and kind within
// Config.IncidentWindow into one incident with a deterministic id (client, kind, first
// capture time), escalates severity with persistence, holds signals of kinds that a
// population-wide change can explain (an outage, an endpoint everyone adopts at once) until
// the population has had time to show it, and writes models.Finding records to the Output.
//
// # Time
//
// Capture time is the clock. Decayed counters, warm-up, windows, holds and checkpoints use
// call timestamps only; the engine never reads the wall clock, so replaying the same calls
// gives byte-identical findings, and restoring a checkpoint taken mid-stream gives the same
// findings as an uninterrupted run.
//
// # Detectors
//
// A detector is one file implementing Detector and registering itself in init with
// Register; adding one touches no other detector. Detectors that keep private state
// implement Stateful so checkpoints carry it.
//
// # Concurrency
//
// An Engine is owned by one goroutine; none of its methods are safe for concurrent use.
// Run (the consumer loop) is that goroutine in the Kafka mode; replay serialises the
// sensor's sink writes onto it.
package analyzer

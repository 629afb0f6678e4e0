// Package world simulates the clients of a scenario: people using web and mobile apps,
// partner integrations polling on a schedule, AI agents making bursts of chained tool
// calls (some acting for a user), batch jobs, and the attackers. It yields every API call
// in capture-time order; package pcapgen turns the calls into packets.
//
// The simulation is a discrete-event loop: each client (and each attack) is an actor
// with the time of its next call; the loop pops the earliest actor, lets it make one
// call and reschedules it. Every actor draws from its own random stream seeded from the
// run's seed and the actor's name, ties break by creation order, and no map is ever
// iterated for output, so one seed always gives the same calls. Memory is bounded by
// the number of actors, not by the number of calls.
//
// Times are int64 microseconds since the Unix epoch: the pcap format's resolution, so
// what the truth file says is exactly what a sensor can see.
package world

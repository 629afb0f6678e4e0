// Package simulate writes labelled synthetic API traffic: a pcap a sensor can replay, the
// ground truth of every call in it, and the labels of every attack.
//
// Generate loads a scenario (package scenario), runs its world (package world) and
// streams each call to the packet writer (package pcapgen) and to truth.jsonl, then
// writes labels.json (package truth). The same Options always give the same bytes: the
// world and the wire draw from seeded streams, nothing reads the clock, and the loop is
// single-threaded.
//
//	res, err := simulate.Generate(ctx, simulate.Options{Seed: 1, Scale: "small", OutDir: dir})
//	// dir/traffic.pcap, dir/truth.jsonl, dir/labels.json
package simulate

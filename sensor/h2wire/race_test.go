//go:build race

package h2wire

const raceEnabled = true

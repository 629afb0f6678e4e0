//go:build race

package decode

// raceEnabled: the race detector allocates on its own, so allocation pins are skipped.
const raceEnabled = true

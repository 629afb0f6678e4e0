package flow

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// Hash returns a value that is equal for both directions of the connection between
// (a, aport) and (b, bport). It is fast, well mixed and not stable across versions.
func Hash(a netip.Addr, aport uint16, b netip.Addr, bport uint16) uint64 {
	// Mixing each endpoint on its own and adding the two results is symmetric by
	// construction, with no comparison or branch per packet.
	return mix(endpoint(a, aport) + endpoint(b, bport))
}

func endpoint(a netip.Addr, port uint16) uint64 {
	x := a.As16()
	hi := binary.LittleEndian.Uint64(x[:8])
	lo := binary.LittleEndian.Uint64(x[8:])
	return mix(hi ^ mix(lo^uint64(port)<<1|1))
}

// mix is the splitmix64 finaliser.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// Shard maps a hash onto n workers without the bias of a modulo on a power of two.
func Shard(h uint64, n int) int {
	hi, _ := bits.Mul64(h, uint64(n))
	return int(hi)
}

package capture

import (
	"encoding/binary"
	"fmt"
	"io"
)

// pcapng block types the guard looks into.
const (
	ngSectionHeader  = 0x0a0d0d0a // palindromic: the same in either byte order
	ngInterface      = 1
	ngPacketObsolete = 2
	ngSimplePacket   = 3
	ngEnhancedPacket = 6
	ngByteOrderMagic = 0x1a2b3c4d
)

// ngGuard sits between the file and pcapgo's pcapng reader and checks each block's
// header before pcapgo sees it. pcapgo sizes its frame buffer from the lengths in the
// file, so a corrupt length could make it allocate gigabytes: here a frame longer than
// maxFrameLen or than its block ends the file with an error, and an interface's snaplen
// over maxFrameLen is passed on as 0 ("no limit"; the frame lengths stay checked).
type ngGuard struct {
	r            io.Reader
	bigEndian    bool
	hdr          [28]byte // the current block's header, as far as it is inspected
	hdrN, hdrOff int      // header bytes held, and served so far
	body         int      // bytes of the current block left to pass through
	err          error
}

func (g *ngGuard) Read(p []byte) (int, error) {
	for {
		if g.hdrOff < g.hdrN {
			n := copy(p, g.hdr[g.hdrOff:g.hdrN])
			g.hdrOff += n
			return n, nil
		}
		if g.err != nil {
			return 0, g.err
		}
		if g.body > 0 {
			if len(p) > g.body {
				p = p[:g.body]
			}
			n, err := g.r.Read(p)
			g.body -= n
			return n, err
		}
		g.nextBlock()
	}
}

func (g *ngGuard) u32(off int) uint32 {
	if g.bigEndian {
		return binary.BigEndian.Uint32(g.hdr[off : off+4])
	}
	return binary.LittleEndian.Uint32(g.hdr[off : off+4])
}

// fill reads the header up to n bytes; false (with g.err set) if the file ends first.
func (g *ngGuard) fill(n int) bool {
	m, err := io.ReadFull(g.r, g.hdr[g.hdrN:n])
	g.hdrN += m
	if err != nil {
		if err == io.EOF && g.hdrN == 0 {
			g.err = io.EOF
		} else if err == io.EOF || err == io.ErrUnexpectedEOF {
			g.err = io.ErrUnexpectedEOF
		} else {
			g.err = err
		}
		return false
	}
	return true
}

func (g *ngGuard) nextBlock() {
	g.hdrN, g.hdrOff = 0, 0
	if !g.fill(8) {
		return
	}
	typ := binary.LittleEndian.Uint32(g.hdr[0:4])
	if typ == ngSectionHeader {
		if !g.fill(12) {
			return
		}
		g.bigEndian = binary.BigEndian.Uint32(g.hdr[8:12]) == ngByteOrderMagic
	} else {
		typ = g.u32(0)
	}
	need := g.hdrN // header bytes to inspect
	switch typ {
	case ngInterface:
		need = 16
	case ngSimplePacket:
		need = 12
	case ngPacketObsolete, ngEnhancedPacket:
		need = 28
	}
	blockLen := int(g.u32(4))
	if blockLen < need || blockLen < 12 || blockLen%4 != 0 {
		g.hdrN, g.err = 0, fmt.Errorf("pcapng block of type %#x with impossible length %d", typ, blockLen)
		return
	}
	if !g.fill(need) {
		return
	}
	switch typ {
	case ngInterface:
		if g.u32(12) > maxFrameLen {
			clear(g.hdr[12:16])
		}
	case ngSimplePacket:
		if n := g.u32(8); n > maxFrameLen {
			g.hdrN, g.err = 0, fmt.Errorf("pcapng simple packet of %d bytes (limit %d)", n, maxFrameLen)
			return
		}
	case ngPacketObsolete, ngEnhancedPacket:
		if n := g.u32(20); n > maxFrameLen || int(n) > blockLen-32 {
			g.hdrN, g.err = 0, fmt.Errorf("pcapng packet of %d bytes in a block of %d (limit %d)", n, blockLen, maxFrameLen)
			return
		}
	}
	g.body = blockLen - g.hdrN
}

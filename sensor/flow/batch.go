package flow

import (
	"net/netip"
	"time"

	"github.com/apiscope/apiscope/sensor/decode"
)

// Kind tells what an Item carries.
type Kind uint8

const (
	// KindSegment is a TCP segment.
	KindSegment Kind = iota
	// KindTick marks a point in capture time (Item.TS) reached by the whole capture, sent
	// to every worker at the same event number so that idle timeouts fire at the same
	// place in the output whatever the number of workers.
	KindTick
)

// Item is one event in a batch: a segment whose payload lives in the batch buffer, or a tick.
type Item struct {
	// Event numbers every segment and every tick of a capture in the order the dispatcher
	// saw them, starting at 1. A tick shares its number with all workers.
	Event            uint64
	TS               time.Time
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	Window           uint16
	Flags            uint8
	Kind             Kind
	WireLen          int
	off, n           int
}

// Batch is a run of items for one worker. A worker owns a batch from receiving it until
// it hands it back with Sharder.Release.
type Batch struct {
	Items []Item
	// Horizon is the last event number handed to any worker when this batch was sent:
	// once the worker has processed this batch, it has processed every event up to
	// Horizon that was meant for it.
	Horizon uint64
	buf     []byte
}

// Segment fills s with item i of the batch. s.Payload is borrowed from the batch and is
// valid until the batch is released.
func (b *Batch) Segment(i int, s *decode.Segment) {
	it := &b.Items[i]
	*s = decode.Segment{
		TS: it.TS, Src: it.Src, Dst: it.Dst, SrcPort: it.SrcPort, DstPort: it.DstPort,
		Seq: it.Seq, Ack: it.Ack, Window: it.Window, Flags: it.Flags,
		Payload: b.buf[it.off : it.off+it.n : it.off+it.n], WireLen: it.WireLen,
	}
}

func (b *Batch) reset() {
	b.Items = b.Items[:0]
	b.buf = b.buf[:0]
	b.Horizon = 0
}

// add appends seg, copying its payload.
func (b *Batch) add(seg *decode.Segment, event uint64) {
	off := len(b.buf)
	b.buf = append(b.buf, seg.Payload...)
	b.Items = append(b.Items, Item{
		Event: event, TS: seg.TS, Src: seg.Src, Dst: seg.Dst, SrcPort: seg.SrcPort, DstPort: seg.DstPort,
		Seq: seg.Seq, Ack: seg.Ack, Window: seg.Window, Flags: seg.Flags, Kind: KindSegment,
		WireLen: seg.WireLen, off: off, n: len(seg.Payload),
	})
}

func (b *Batch) addTick(ts time.Time, event uint64) {
	b.Items = append(b.Items, Item{Event: event, TS: ts, Kind: KindTick})
}

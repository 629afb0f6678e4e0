package sensor

import (
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/apiscope/apiscope/sensor/decode"
)

// segmentDecoder is what the dispatcher needs from package decode.
type segmentDecoder interface {
	Decode(data []byte, lt layers.LinkType, ci gopacket.CaptureInfo) (*decode.Segment, error)
	PublishCounts()
}

func newDecoder(cfg *decode.Config) segmentDecoder { return decode.NewDecoder(*cfg) }

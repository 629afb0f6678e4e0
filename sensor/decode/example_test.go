package decode_test

import (
	"errors"
	"fmt"
	"io"

	"github.com/apiscope/apiscope/sensor/capture"
	"github.com/apiscope/apiscope/sensor/decode"
)

// Read a capture (any link type, any tunnel) and print the TCP segments that carry data.
func ExampleDecoder_Decode() {
	src, err := capture.OpenFile("../../../shared/corpus/real-pcaps/arkime__gre-erspan-vxlan.pcap")
	if err != nil {
		fmt.Println("corpus not present")
		return
	}
	defer src.Close()
	dec := decode.NewDecoder(decode.Config{})
	for {
		data, ci, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		seg, err := dec.Decode(data, src.LinkTypeOf(ci), ci)
		if err != nil || seg == nil || len(seg.Payload) == 0 {
			continue // errors are counted and logged by the Decoder; non-TCP is skipped
		}
		fmt.Printf("%s:%d -> %s:%d %d bytes\n", seg.Src, seg.SrcPort, seg.Dst, seg.DstPort, len(seg.Payload))
	}
	// Prints, for a capture nesting GRE, ERSPAN and VXLAN:
	// 10.16.27.12:65174 -> 10.16.27.131:80 30 bytes
	// 10.16.27.131:80 -> 10.16.27.12:65174 27 bytes
}

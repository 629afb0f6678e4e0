package capture

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/google/gopacket/pcapgo"
)

// classicPcap builds a pcap file in byte order bo with the given magic and frames of
// the sizes given.
func classicPcap(bo binary.ByteOrder, magic uint32, sizes []int) []byte {
	var b bytes.Buffer
	h := make([]byte, 24)
	bo.PutUint32(h[0:], magic)
	bo.PutUint16(h[4:], 2)
	bo.PutUint16(h[6:], 4)
	bo.PutUint32(h[16:], 65535)
	bo.PutUint32(h[20:], 1)
	b.Write(h)
	for i, n := range sizes {
		r := make([]byte, 16+n)
		bo.PutUint32(r[0:], 1700000000+uint32(i))
		bo.PutUint32(r[4:], uint32(i)*999_999+7) // past a second in nanosecond files
		bo.PutUint32(r[8:], uint32(n))
		bo.PutUint32(r[12:], uint32(n+i))
		for j := 16; j < len(r); j++ {
			r[j] = byte(i + j)
		}
		b.Write(r)
	}
	return b.Bytes()
}

// describeFrames describes every frame and the final error of a reader.
func describeFrames(next func() ([]byte, string, error)) string {
	var out strings.Builder
	for i := 0; i < 1000; i++ {
		data, ci, err := next()
		if err != nil {
			fmt.Fprintf(&out, "error %v (%s)", err, ci)
			break
		}
		fmt.Fprintf(&out, "%s %x\n", ci, data)
	}
	return out.String()
}

// recordReader reads what pcapgo.Reader reads, frame for frame, and fails where it
// fails with the same error, in every byte order and time resolution, with frames
// larger than the buffer, and with the file cut at every byte (a sample of them inside the big frame).
func TestRecordReaderMatchesPcapgo(t *testing.T) {
	files := map[string][]byte{}
	for _, f := range []struct {
		name  string
		bo    binary.ByteOrder
		magic uint32
	}{
		{"le-micro", binary.LittleEndian, 0xa1b2c3d4}, {"be-micro", binary.BigEndian, 0xa1b2c3d4},
		{"le-nano", binary.LittleEndian, 0xa1b23c4d}, {"be-nano", binary.BigEndian, 0xa1b23c4d},
	} {
		files[f.name] = classicPcap(f.bo, f.magic, []int{60, 0, 17, 5000, 40})
	}
	bad := classicPcap(binary.LittleEndian, 0xa1b2c3d4, []int{60, 30})
	binary.LittleEndian.PutUint32(bad[24+16+60+8:], 2<<20) // caplen past the snap length
	files["caplen over snaplen"] = bad
	bad = classicPcap(binary.LittleEndian, 0xa1b2c3d4, []int{60, 30})
	binary.LittleEndian.PutUint32(bad[24+16+60+12:], 10) // wire length under caplen
	files["caplen over length"] = bad
	for name, whole := range files {
		for cut := 24; cut <= len(whole); cut++ {
			if cut > 300 && cut < len(whole)-100 && cut%37 != 0 {
				continue // inside the big frame: a sample of the cuts
			}
			data := whole[:cut]
			// pcapgo reads the file header through the reader it is given when its buffer
			// holds 4096 bytes or more (as readBufSize does), else through one of its own.
			// The 5000-byte frame takes the copying path.
			const bufSize = 4096
			ref, err := pcapgo.NewReader(bufio.NewReaderSize(bytes.NewReader(data), bufSize))
			if err != nil {
				t.Fatal(err)
			}
			ref.SetSnaplen(maxFrameLen)
			want := describeFrames(func() ([]byte, string, error) {
				d, ci, err := ref.ZeroCopyReadPacketData()
				return d, fmt.Sprint(ci), err
			})
			br := bufio.NewReaderSize(bytes.NewReader(data), bufSize)
			magic, _ := br.Peek(4)
			m := [4]byte(magic)
			if _, err := pcapgo.NewReader(br); err != nil {
				t.Fatal(err)
			}
			rr := newRecordReader(br, m[:], maxFrameLen)
			got := describeFrames(func() ([]byte, string, error) {
				d, ci, err := rr.next()
				return d, fmt.Sprint(ci), err
			})
			if got != want {
				t.Fatalf("%s cut at %d:\n%s\npcapgo:\n%s", name, cut, got, want)
			}
			// FileSource.ReadFrame, which takes records in place and leaves the rest to
			// next, reads what Next (next, with the errors described) reads.
			sources := [2]*FileSource{}
			for i := range sources {
				br := bufio.NewReaderSize(bytes.NewReader(data), bufSize)
				if _, err := pcapgo.NewReader(br); err != nil {
					t.Fatal(err)
				}
				sources[i] = &FileSource{path: name, pcap: newRecordReader(br, m[:], maxFrameLen), lt: 1}
			}
			sameReads(t, fmt.Sprintf("%s cut at %d", name, cut), sources[0], sources[1], -1)
		}
	}
}

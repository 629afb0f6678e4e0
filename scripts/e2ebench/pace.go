package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

// runPace copies a classic pcap file to out (a FIFO the sensor reads as --pcap) at a
// fixed rate of packets per wall second, records unchanged, so the sensor sees the
// capture's own timestamps but the pipeline receives it no faster than the rate: the
// latency of a pipeline that keeps up, rather than of a backlog.
func runPace(args []string) error {
	fs := flag.NewFlagSet("e2ebench pace", flag.ContinueOnError)
	in := fs.String("pcap", "", "classic pcap file to read")
	out := fs.String("out", "", "file or FIFO to write")
	pps := fs.Float64("pps", 0, "packets per second")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" || *out == "" || *pps <= 0 {
		return errors.New("pace needs --pcap, --out and --pps > 0")
	}
	src, err := os.Open(*in)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(*out, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer dst.Close()
	n, elapsed, err := pace(bufio.NewReaderSize(src, 1<<20), dst, *pps)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "paced %d packets in %.2f s (%.0f packets/s)\n", n, elapsed.Seconds(), float64(n)/elapsed.Seconds())
	return nil
}

// pace writes the pcap from r to w, sleeping so that packet i leaves no earlier than
// i/pps seconds after the first. Writes are flushed before every sleep.
func pace(r io.Reader, w io.Writer, pps float64) (int, time.Duration, error) {
	var hdr [24]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, 0, fmt.Errorf("pcap header: %w", err)
	}
	var order binary.ByteOrder
	switch binary.LittleEndian.Uint32(hdr[:4]) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		order = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		order = binary.BigEndian
	default:
		return 0, 0, fmt.Errorf("not a classic pcap file (magic %x); pcapng is not paced", hdr[:4])
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	if _, err := bw.Write(hdr[:]); err != nil {
		return 0, 0, err
	}
	start := time.Now()
	var rec [16]byte
	buf := make([]byte, 0, 1<<16)
	n := 0
	for {
		if _, err := io.ReadFull(r, rec[:]); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return n, time.Since(start), fmt.Errorf("record %d header: %w", n, err)
		}
		incl := int(order.Uint32(rec[8:12]))
		if incl > 1<<24 {
			return n, time.Since(start), fmt.Errorf("record %d: length %d", n, incl)
		}
		buf = buf[:incl]
		if _, err := io.ReadFull(r, buf); err != nil {
			return n, time.Since(start), fmt.Errorf("record %d: %w", n, err)
		}
		// Checked every 64 packets: sleeping per packet costs more than the copy.
		if n%64 == 0 {
			due := start.Add(time.Duration(float64(n) / pps * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				if err := bw.Flush(); err != nil {
					return n, time.Since(start), err
				}
				time.Sleep(d)
			}
		}
		if _, err := bw.Write(rec[:]); err != nil {
			return n, time.Since(start), err
		}
		if _, err := bw.Write(buf); err != nil {
			return n, time.Since(start), err
		}
		n++
	}
	if err := bw.Flush(); err != nil {
		return n, time.Since(start), err
	}
	return n, time.Since(start), nil
}

// Package capture is the first stage of the sensor: it reads frames from a capture file
// (pcap or pcapng, optionally gzipped) or from a live interface through libpcap, and hands
// them out one at a time with their capture info and link type.
//
// Both sources satisfy Source. ReadFrame fills a Frame the caller keeps; its bytes are
// borrowed: they are valid until the next read, so the caller decodes (or copies) before
// asking for the next one. This keeps reading a file of any size in constant memory and
// allocation free.
//
//	src, err := capture.OpenFile("trace.pcap.gz")
//	if err != nil { ... }
//	defer src.Close()
//	var f capture.Frame
//	for {
//		err := src.ReadFrame(&f)
//		if err == io.EOF { break }
//		if err != nil { return err } // a truncated or corrupt file, after every good frame
//		seg, err := dec.DecodeFrame(f.Data, f.LinkType, f.Timestamp, f.Length)
//		...
//	}
//
// Next and LinkTypeOf give the same frames the way gopacket does, with a CaptureInfo.
//
// A pcapng file may hold interfaces of different link types; Frame.LinkType (or
// LinkTypeOf) gives the link type of each frame. A file is recognised by its first
// bytes, never by its name.
//
// Counters (apiscope_sensor_capture_*) live in metrics.go.
package capture

package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/apiscope/apiscope/models"
)

// writeExchangePcap writes n keep-alive GET/200 exchanges on one connection.
func writeExchangePcap(t *testing.T, path string, n int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	cip, sip := net.IP{10, 0, 0, 1}, net.IP{10, 0, 0, 2}
	cseq, sseq := uint32(100), uint32(900)
	ts := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	send := func(fromClient, syn, fin bool, data string) {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: cip, DstIP: sip}
		tcp := &layers.TCP{SrcPort: 40000, DstPort: 8080, Seq: cseq, Ack: sseq, SYN: syn, FIN: fin, ACK: !(syn && fromClient), Window: 1000}
		if !fromClient {
			ip.SrcIP, ip.DstIP = sip, cip
			tcp.SrcPort, tcp.DstPort, tcp.Seq, tcp.Ack = 8080, 40000, sseq, cseq
		}
		buf := gopacket.NewSerializeBuffer()
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, eth, ip, tcp, gopacket.Payload(data)); err != nil {
			t.Fatal(err)
		}
		ts = ts.Add(time.Millisecond)
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(buf.Bytes()), Length: len(buf.Bytes())}, buf.Bytes()); err != nil {
			t.Fatal(err)
		}
		adv := uint32(len(data))
		if syn || fin {
			adv++
		}
		if fromClient {
			cseq += adv
		} else {
			sseq += adv
		}
	}
	send(true, true, false, "")
	send(false, true, false, "")
	send(true, false, false, "")
	for i := 0; i < n; i++ {
		send(true, false, false, "GET /items/"+string(rune('a'+i))+" HTTP/1.1\r\nHost: api\r\n\r\n")
		send(false, false, false, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	}
	send(true, false, true, "")
	send(false, false, true, "")
}

func TestSensorCommandWritesCalls(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_STATE_HOME", dir) // the generated fingerprint key goes here
	pcap, out := filepath.Join(dir, "in.pcap"), filepath.Join(dir, "calls.jsonl")
	writeExchangePcap(t, pcap, 5)
	runCLI(t, "sensor", "--pcap", pcap, "--out", out, "--workers", "2")
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) != 5 {
		t.Fatalf("%d calls written; want 5:\n%s", len(lines), b)
	}
	for i, l := range lines {
		var c models.APICall
		if err := models.UnmarshalAPICall(l, &c); err != nil {
			t.Fatal(err)
		}
		if want := "/items/" + string(rune('a'+i)); c.URI != want || c.Status != 200 || c.RespBytes != 2 || c.SrcIP != "10.0.0.1" {
			t.Errorf("call %d = %s %s %d (%d bytes) from %s; want %s 200 (2 bytes) from 10.0.0.1", i, c.Method, c.URI, c.Status, c.RespBytes, c.SrcIP, want)
		}
	}
}

func TestSensorCommandFlagErrors(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	for _, args := range [][]string{
		{"sensor", "--pcap", "x.pcap", "--interface", "lo"},
		{"sensor", "--pcap", "x.pcap", "--workers", "-1"},
		{"sensor", "--pcap", filepath.Join(t.TempDir(), "missing.pcap"), "--workers", "0"},
	} {
		restore := prepareCLI(args...)
		err := rootCmd.ExecuteContext(context.Background())
		restore()
		if err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error %v; want one line", args, err)
		}
	}
}

// --cpu-profile writes a pprof profile of the command (scripts/pgo.sh builds on it).
func TestCPUProfileFlag(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_STATE_HOME", dir)
	pcap, prof := filepath.Join(dir, "in.pcap"), filepath.Join(dir, "cpu.pprof")
	writeExchangePcap(t, pcap, 50)
	runCLI(t, "sensor", "--pcap", pcap, "--out", filepath.Join(dir, "calls.jsonl"), "--cpu-profile", prof)
	if err := stopProfile(); err != nil {
		t.Fatal(err)
	}
	stopProfile = func() error { return nil }
	b, err := os.ReadFile(prof)
	if err != nil {
		t.Fatal(err)
	}
	// A pprof profile is a gzipped protocol buffer.
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Fatalf("profile is not a gzipped pprof profile: % x", b[:min(len(b), 8)])
	}
}

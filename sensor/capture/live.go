package capture

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcap"
)

// Defaults for LiveConfig's zero values.
const (
	DefaultSnaplen     = 262144   // what tcpdump uses: whole frames, including TSO/GRO ones
	DefaultBufferSize  = 64 << 20 // kernel ring; mirrored traffic arrives in bursts
	DefaultReadTimeout = 100 * time.Millisecond
)

// LiveConfig says what to capture from. The zero value of every field but Interface is
// a working default.
type LiveConfig struct {
	// Interface is the device name ("eth0"). "any" captures on every interface; frames
	// then carry a Linux cooked (SLL) header instead of Ethernet.
	Interface string
	// BPF is a kernel filter in tcpdump syntax ("tcp port 80"). Empty captures all.
	BPF string
	// Snaplen is the most bytes kept of each frame. Zero means DefaultSnaplen.
	Snaplen int
	// Promisc puts the interface in promiscuous mode, which a SPAN or tap port needs
	// (its frames are not addressed to this host).
	Promisc bool
	// BufferSize is the kernel capture buffer in bytes. Zero means DefaultBufferSize.
	BufferSize int
	// Immediate delivers each frame as it arrives instead of in batches: lower latency,
	// more system calls.
	Immediate bool
	// ReadTimeout is how long a read waits before it looks whether Close was called.
	// Zero means DefaultReadTimeout. It never ends Next: Next waits for a frame or Close.
	ReadTimeout time.Duration
}

// LiveSource reads frames from a network interface through libpcap. Next must be called
// from one goroutine; Stats and Close may be called from any. Close makes a blocked Next
// return io.EOF within ReadTimeout.
type LiveSource struct {
	h      *pcap.Handle
	iface  string
	lt     layers.LinkType
	closed atomic.Bool
	once   sync.Once

	// statsMu serialises Stats with Close: libpcap's stats on a closed handle crash.
	statsMu sync.Mutex
	final   *LiveStats // the counts read just before Close, served afterwards
}

// LiveStats are the kernel's counts for a live capture since it was opened.
type LiveStats struct {
	Received  uint64 // frames the kernel passed to the capture (after the BPF filter)
	Dropped   uint64 // frames dropped because the capture buffer was full
	IfDropped uint64 // frames the interface or driver dropped
}

// OpenLive starts a live capture. Without the right to capture, the error wraps
// ErrPermission.
func OpenLive(cfg LiveConfig) (*LiveSource, error) {
	if cfg.Interface == "" {
		return nil, errors.New("live capture: no interface given")
	}
	if cfg.Snaplen < 0 || cfg.BufferSize < 0 || cfg.ReadTimeout < 0 {
		return nil, errors.New("live capture: snaplen, buffer size and read timeout must not be negative")
	}
	snaplen := cfg.Snaplen
	if snaplen == 0 {
		snaplen = DefaultSnaplen
	}
	bufSize := cfg.BufferSize
	if bufSize == 0 {
		bufSize = DefaultBufferSize
	}
	timeout := cfg.ReadTimeout
	if timeout == 0 {
		timeout = DefaultReadTimeout
	}
	wrap := func(what string, err error) error {
		msg := err.Error()
		if strings.Contains(msg, "ermission") || strings.Contains(msg, "not permitted") {
			return fmt.Errorf("live capture on %q: %s: %w (%v)", cfg.Interface, what, ErrPermission, err)
		}
		return fmt.Errorf("live capture on %q: %s: %w", cfg.Interface, what, err)
	}
	ih, err := pcap.NewInactiveHandle(cfg.Interface)
	if err != nil {
		return nil, wrap("open", err)
	}
	defer ih.CleanUp()
	for _, set := range []struct {
		what string
		err  error
	}{
		{"snaplen", ih.SetSnapLen(snaplen)},
		{"promiscuous mode", ih.SetPromisc(cfg.Promisc)},
		{"buffer size", ih.SetBufferSize(bufSize)},
		{"immediate mode", ih.SetImmediateMode(cfg.Immediate)},
		{"read timeout", ih.SetTimeout(timeout)},
	} {
		if set.err != nil {
			return nil, wrap(set.what, set.err)
		}
	}
	h, err := ih.Activate()
	if err != nil {
		return nil, wrap("activate", err)
	}
	if cfg.BPF != "" {
		if err := h.SetBPFFilter(cfg.BPF); err != nil {
			h.Close()
			return nil, fmt.Errorf("live capture on %q: bad BPF filter %q: %w", cfg.Interface, cfg.BPF, err)
		}
	}
	return &LiveSource{h: h, iface: cfg.Interface, lt: h.LinkType()}, nil
}

// Next waits for the next frame. The bytes are valid until the next call. After Close it
// returns io.EOF.
func (s *LiveSource) Next() ([]byte, gopacket.CaptureInfo, error) {
	for {
		data, ci, err := s.h.ZeroCopyReadPacketData()
		switch {
		case err == nil:
			mFrames.Inc()
			mBytes.Add(uint64(len(data)))
			return data, ci, nil
		case err == pcap.NextErrorTimeoutExpired:
			if s.closed.Load() {
				return nil, gopacket.CaptureInfo{}, io.EOF
			}
		case err == io.EOF || s.closed.Load():
			return nil, gopacket.CaptureInfo{}, io.EOF
		default:
			mLiveErrors.Inc()
			return nil, gopacket.CaptureInfo{}, fmt.Errorf("live capture on %q: %w", s.iface, err)
		}
	}
}

// ReadFrame waits for the next frame and reads it into f (see Source): the frames, times
// and errors of Next, with the interface's link type.
func (s *LiveSource) ReadFrame(f *Frame) error {
	data, ci, err := s.Next()
	if err != nil {
		return err
	}
	f.Data, f.Timestamp, f.Length, f.LinkType = data, ci.Timestamp, ci.Length, s.lt
	return nil
}

// LinkType returns the interface's link type (LinuxSLL for "any").
func (s *LiveSource) LinkType() layers.LinkType { return s.lt }

// LinkTypeOf returns the interface's link type: every frame has the same.
func (s *LiveSource) LinkTypeOf(gopacket.CaptureInfo) layers.LinkType { return s.lt }

// Stats returns the kernel's counts since the capture was opened and exports them as the
// apiscope_sensor_capture_kernel_* gauges.
func (s *LiveSource) Stats() (LiveStats, error) {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	if s.final != nil {
		return *s.final, nil
	}
	return s.readStats()
}

// readStats asks libpcap; the caller holds statsMu and the handle is open.
func (s *LiveSource) readStats() (LiveStats, error) {
	st, err := s.h.Stats()
	if err != nil {
		return LiveStats{}, fmt.Errorf("live capture on %q: stats: %w", s.iface, err)
	}
	ls := LiveStats{
		Received:  uint64(st.PacketsReceived),
		Dropped:   uint64(st.PacketsDropped),
		IfDropped: uint64(st.PacketsIfDropped),
	}
	mKernelReceived.Set(float64(ls.Received))
	mKernelDropped.Set(float64(ls.Dropped))
	mKernelIfDropped.Set(float64(ls.IfDropped))
	return ls, nil
}

// Close stops the capture. A Next blocked in another goroutine returns io.EOF. The
// kernel's counts are read first, so Stats after Close reports the final figures.
func (s *LiveSource) Close() error {
	s.once.Do(func() {
		s.statsMu.Lock()
		if ls, err := s.readStats(); err == nil {
			s.final = &ls
		} else {
			s.final = &LiveStats{}
		}
		s.statsMu.Unlock()
		s.closed.Store(true)
		s.h.Close()
	})
	return nil
}

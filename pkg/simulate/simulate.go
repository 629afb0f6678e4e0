package simulate

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/apiscope/apiscope/pkg/metrics"
	"github.com/apiscope/apiscope/pkg/simulate/pcapgen"
	"github.com/apiscope/apiscope/pkg/simulate/scenario"
	"github.com/apiscope/apiscope/pkg/simulate/truth"
	"github.com/apiscope/apiscope/pkg/simulate/world"
)

// File names inside Options.OutDir.
const (
	PcapFile   = "traffic.pcap"
	LabelsFile = "labels.json"
	TruthFile  = "truth.jsonl"
)

// Scales are the accepted Options.Scale values.
var Scales = []string{"small", "medium", "large"}

// Options select what to generate. The zero value (plus OutDir) is the built-in
// "default" scenario at scale small with seed 0.
type Options struct {
	// Seed drives every random choice; the same seed gives the same bytes.
	Seed uint64
	// Scale is small (a few thousand calls), medium (about 150k) or large (over 1M).
	// Empty means small.
	Scale string
	// Scenario is a built-in name (scenario.Builtins) or a YAML file. Empty means
	// "default".
	Scenario string
	// OutDir receives traffic.pcap, truth.jsonl, labels.json and openapi/<service>.json;
	// it is created if missing.
	OutDir string
	// Log receives progress; nil means no logging.
	Log *zap.Logger
}

// Result summarises a run.
type Result struct {
	Scenario  string
	Scale     string
	Calls     int64
	Packets   int64
	Bytes     int64
	Incidents int
	// Elapsed is the wall time taken (reporting only; it does not affect output).
	Elapsed time.Duration
	// PcapPath, TruthPath and LabelsPath are the files written.
	PcapPath, TruthPath, LabelsPath string
	// OpenAPIPaths are the per-service OpenAPI documents (shadow endpoints left out).
	OpenAPIPaths []string
}

var (
	mCalls   = metrics.Default.Counter("apiscope_simulate_calls_total", "Calls written by the simulator.")
	mPackets = metrics.Default.Counter("apiscope_simulate_packets_total", "Packets written by the simulator.")
)

// Generate writes a labelled capture. Cancelling ctx stops it with ctx's error and
// leaves partial files behind.
func Generate(ctx context.Context, o Options) (Result, error) {
	began := time.Now()
	if o.OutDir == "" {
		return Result{}, errors.New("an output directory is required")
	}
	if o.Scale == "" {
		o.Scale = "small"
	}
	log := o.Log
	if log == nil {
		log = zap.NewNop()
	}
	sc, err := scenario.Load(o.Scenario)
	if err != nil {
		return Result{}, err
	}
	w, err := world.New(sc, o.Scale, o.Seed)
	if err != nil {
		return Result{}, err
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return Result{}, fmt.Errorf("create output directory: %w", err)
	}
	res := Result{
		Scenario:   sc.Name,
		Scale:      o.Scale,
		PcapPath:   filepath.Join(o.OutDir, PcapFile),
		TruthPath:  filepath.Join(o.OutDir, TruthFile),
		LabelsPath: filepath.Join(o.OutDir, LabelsFile),
	}
	pf, err := os.Create(res.PcapPath)
	if err != nil {
		return res, fmt.Errorf("create pcap: %w", err)
	}
	defer pf.Close()
	tf, err := os.Create(res.TruthPath)
	if err != nil {
		return res, fmt.Errorf("create truth: %w", err)
	}
	defer tf.Close()
	pw, err := pcapgen.NewWriter(pf, pcapgen.Options{Seed: o.Seed, Start: w.Start})
	if err != nil {
		return res, err
	}
	tw := bufio.NewWriterSize(tf, 1<<20)
	var x pcapgen.Exchange
	var line []byte
	log.Info("simulating", zap.String("scenario", sc.Name), zap.String("scale", o.Scale), zap.Uint64("seed", o.Seed))
	err = w.Run(ctx, func(c *world.Call) error {
		x = pcapgen.Exchange{
			TS: c.TS, Src: c.Src, Dst: c.Service.IP, DstPort: c.Service.Port, Pool: c.Pool,
			Method: c.Method, Host: c.Service.Host, URI: c.URI, UserAgent: c.UA,
			AuthHeader: c.AuthHeader, AuthValue: c.AuthValue, Headers: c.Headers, Body: c.Body,
			Status: c.Status, RespSize: c.RespSize, Chunked: c.Chunked, LatencyUS: c.LatencyUS,
			Close: c.Close, RTTUS: c.RTTUS, MSS: c.MSS, Server: c.Service.Server,
		}
		r, err := pw.Write(&x)
		if err != nil {
			return err
		}
		line = appendTruth(line[:0], c, r)
		if _, err := tw.Write(line); err != nil {
			return fmt.Errorf("write truth: %w", err)
		}
		res.Calls++
		mCalls.Inc()
		return nil
	})
	if err != nil {
		return res, err
	}
	if err := pw.Close(); err != nil {
		return res, err
	}
	if err := tw.Flush(); err != nil {
		return res, fmt.Errorf("write truth: %w", err)
	}
	if err := tf.Close(); err != nil {
		return res, fmt.Errorf("close truth: %w", err)
	}
	if err := pf.Close(); err != nil {
		return res, fmt.Errorf("close pcap: %w", err)
	}
	res.Packets, res.Bytes = pw.Packets(), pw.Bytes()
	mPackets.Add(uint64(res.Packets))
	labels := w.Labels()
	labels.Calls, labels.Packets, labels.Bytes = res.Calls, res.Packets, res.Bytes
	if err := truth.WriteLabels(res.LabelsPath, &labels); err != nil {
		return res, fmt.Errorf("write labels: %w", err)
	}
	res.Incidents = len(labels.Incidents)
	if res.OpenAPIPaths, err = writeOpenAPI(o.OutDir, w.Services()); err != nil {
		return res, err
	}
	res.Elapsed = time.Since(began)
	log.Info("simulated", zap.Int64("calls", res.Calls), zap.Int64("packets", res.Packets),
		zap.Int("incidents", res.Incidents), zap.Duration("elapsed", res.Elapsed))
	return res, nil
}

// appendTruth writes one truth.jsonl line by hand: encoding/json per call would double
// the run time of a large capture.
func appendTruth(b []byte, c *world.Call, r pcapgen.Result) []byte {
	b = append(b, `{"ts":"`...)
	b = time.UnixMicro(c.TS).UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","src_ip":"`...)
	b = c.Src.AppendTo(b)
	b = append(b, `","src_port":`...)
	b = strconv.AppendUint(b, uint64(r.SrcPort), 10)
	b = append(b, `,"dst_ip":"`...)
	b = c.Service.IP.AppendTo(b)
	b = append(b, `","dst_port":`...)
	b = strconv.AppendUint(b, uint64(c.Service.Port), 10)
	b = append(b, `,"method":`...)
	b = appendString(b, c.Method)
	b = append(b, `,"host":`...)
	b = appendString(b, c.Service.Host)
	b = append(b, `,"uri":`...)
	b = appendString(b, string(c.URI))
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(c.Status), 10)
	b = append(b, `,"resp_bytes":`...)
	b = strconv.AppendInt(b, int64(r.RespBytes), 10)
	b = append(b, `,"client":`...)
	b = appendString(b, c.Client.ID)
	if c.Principal != "" {
		b = append(b, `,"principal":`...)
		b = appendString(b, c.Principal)
	}
	if c.Actor != "" {
		b = append(b, `,"actor":`...)
		b = appendString(b, c.Actor)
	}
	if c.Incident != "" {
		b = append(b, `,"incident":`...)
		b = appendString(b, c.Incident)
	}
	return append(b, "}\n"...)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '"' || ch == '\\':
			b = append(b, '\\', ch)
		case ch < 0x20:
			b = append(b, '\\', 'u', '0', '0', hexDigits[ch>>4], hexDigits[ch&0xf])
		default:
			b = append(b, ch)
		}
	}
	return append(b, '"')
}

package analyzer

import (
	"bufio"
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/apiscope/apiscope/models"
)

// checkpointVersion changes whenever the encoding of the engine state changes; an older
// checkpoint is refused with an error rather than misread.
// Version 3: object ids in profiles are keyed by a hash of the endpoint instead of its
// engine-local id, and profiles carry their partition.
const checkpointVersion = 4

// checkpointFile is the name of the checkpoint inside a state directory.
const checkpointFile = "analyzer.ckpt"

// ErrCheckpointVersion is returned when a checkpoint was written by another version.
var ErrCheckpointVersion = errors.New("analyzer: checkpoint written by an incompatible version")

// engineState is everything an engine needs to continue exactly where it stopped: the
// profiles, the population and cohorts, open incidents and held findings (as JSON, so their
// evidence survives unchanged), the reorder buffer and every detector's own state.
type engineState struct {
	Version   int
	MaxTS     int64
	Released  int64
	Last      *models.APICall
	Recent    []uint64
	RecentPos int
	Parts     map[int]int64
	Stats     Stats
	Profiles  []*Profile
	Pop       *population
	Incidents *incidents
	Pending   [][]byte
	Buffer    []models.APICall
	Detectors map[string][]byte
	// NewParts is the partition of clients whose first calls wait in Buffer.
	NewParts map[string]int32
	// Offsets are the source positions the state covers (Kafka partition to next offset);
	// informational, the consumer group's committed offsets are authoritative.
	Offsets map[int]int64
}

// SaveState writes the engine's state to w. Profiles are written in client order so
// the same state always gives the same bytes.
func (e *Engine) SaveState(w io.Writer) error {
	st := engineState{
		Version: checkpointVersion, MaxTS: e.maxTS, Released: e.released, Last: e.last, Stats: e.stats,
		Pop: e.pop, Detectors: map[string][]byte{}, Recent: e.recent[:], RecentPos: e.recentPos,
		Parts: e.parts, NewParts: e.newParts,
	}
	ids := make([]string, 0, len(e.profiles))
	for id := range e.profiles {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		st.Profiles = append(st.Profiles, e.profiles[id])
	}
	inc := *e.inc
	inc.Pending = nil
	st.Incidents = &inc
	for i := range e.inc.Pending {
		pf := e.inc.Pending[i]
		b, err := models.MarshalFinding(&pf.F)
		if err != nil {
			return fmt.Errorf("encode held finding: %w", err)
		}
		var meta bytes.Buffer
		pf.F = models.Finding{}
		if err := gob.NewEncoder(&meta).Encode(&pf); err != nil {
			return fmt.Errorf("encode held finding: %w", err)
		}
		st.Pending = append(st.Pending, meta.Bytes(), b)
	}
	buf := append(reorderBuf(nil), e.buf...)
	sort.Slice(buf, buf.Less)
	for _, it := range buf {
		st.Buffer = append(st.Buffer, *it.c)
	}
	for _, d := range e.detectors {
		if s, ok := d.(Stateful); ok {
			b, err := s.SaveState()
			if err != nil {
				return fmt.Errorf("save state of detector %s: %w", d.Name(), err)
			}
			st.Detectors[d.Name()] = b
		}
	}
	bw := bufio.NewWriter(w)
	if err := gob.NewEncoder(bw).Encode(&st); err != nil {
		return fmt.Errorf("encode analyzer state: %w", err)
	}
	return bw.Flush()
}

// LoadState replaces the engine's state with one written by SaveState.
func (e *Engine) LoadState(r io.Reader) error {
	var st engineState
	if err := gob.NewDecoder(bufio.NewReader(r)).Decode(&st); err != nil {
		return fmt.Errorf("decode analyzer state: %w", err)
	}
	if st.Version != checkpointVersion {
		return fmt.Errorf("%w (version %d, want %d)", ErrCheckpointVersion, st.Version, checkpointVersion)
	}
	if st.Pop == nil || st.Incidents == nil {
		return fmt.Errorf("decode analyzer state: incomplete checkpoint")
	}
	e.maxTS, e.released, e.last, e.stats = st.MaxTS, st.Released, st.Last, st.Stats
	e.recent = [recentCalls]uint64{}
	copy(e.recent[:], st.Recent)
	e.recentPos = st.RecentPos % recentCalls
	e.parts = st.Parts
	if e.parts == nil {
		e.parts = map[int]int64{}
	}
	e.profiles = make(map[string]*Profile, len(st.Profiles))
	for _, p := range st.Profiles {
		e.profiles[p.ClientID] = p
	}
	e.m.profiles.Set(float64(len(e.profiles)))
	e.pop = st.Pop
	fixPopulation(e.pop)
	e.epKeys = nil
	e.newParts = st.NewParts
	if e.newParts == nil {
		e.newParts = map[string]int32{}
	}
	e.inc = st.Incidents
	fixIncidents(e.inc)
	e.inc.Pending = nil
	for i := 0; i+1 < len(st.Pending); i += 2 {
		var pf pendingFinding
		if err := gob.NewDecoder(bytes.NewReader(st.Pending[i])).Decode(&pf); err != nil {
			return fmt.Errorf("decode held finding: %w", err)
		}
		if err := models.UnmarshalFinding(st.Pending[i+1], &pf.F); err != nil {
			return fmt.Errorf("decode held finding: %w", err)
		}
		e.inc.Pending = append(e.inc.Pending, pf)
	}
	e.buf = e.buf[:0]
	for i := range st.Buffer {
		c := st.Buffer[i]
		e.buf.push(&c)
	}
	for _, d := range e.detectors {
		s, ok := d.(Stateful)
		if !ok {
			continue
		}
		b, ok := st.Detectors[d.Name()]
		if !ok {
			continue // a detector added since the checkpoint starts empty
		}
		if err := s.LoadState(b); err != nil {
			return fmt.Errorf("load state of detector %s: %w", d.Name(), err)
		}
	}
	return nil
}

// fixPopulation restores maps that gob leaves nil when they were empty.
func fixPopulation(p *population) {
	if p.Endpoints == nil {
		p.Endpoints = newEndpointTable()
	}
	if p.Endpoints.IDs == nil {
		p.Endpoints.IDs = map[uint64]uint32{}
	}
	if p.Endpoints.Parents == nil {
		p.Endpoints.Parents = map[uint64]*parentInfo{}
	}
	if p.All == nil {
		p.All = newCohort()
	}
	fixCohort(p.All)
	for i := range p.Cohorts {
		if p.Cohorts[i] == nil {
			p.Cohorts[i] = newCohort()
		}
		fixCohort(p.Cohorts[i])
	}
}

func fixCohort(c *cohort) {
	if c.EPClients == nil {
		c.EPClients = map[uint32]uint32{}
	}
	if c.Trans == nil {
		c.Trans = map[uint64]float32{}
	}
	if c.From == nil {
		c.From = map[uint32]float32{}
	}
	for _, g := range c.Roles {
		if g.EPClients == nil {
			g.EPClients = map[uint32]uint32{}
		}
	}
}

func fixIncidents(m *incidents) {
	if m.Open == nil {
		m.Open = map[string]*incident{}
	}
	if m.Raisers == nil {
		m.Raisers = map[string]int64{}
	}
	if m.Kinds == nil {
		m.Kinds = map[string]*kindWindow{}
	}
}

// WriteCheckpoint writes the state atomically to dir/analyzer.ckpt (temporary file,
// fsync, rename, fsync of the directory), so a crash leaves the old or the new checkpoint,
// never a torn one.
func (e *Engine) WriteCheckpoint(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, checkpointFile+".tmp*")
	if err != nil {
		return fmt.Errorf("create checkpoint: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := e.SaveState(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync checkpoint: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close checkpoint: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, checkpointFile)); err != nil {
		return fmt.Errorf("install checkpoint: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	e.m.checkpoints.Inc()
	return nil
}

// SetAsideCheckpoint renames dir/analyzer.ckpt to analyzer.ckpt.incompatible, so a
// checkpoint this version cannot read is kept but no longer loaded. It returns the new path.
func SetAsideCheckpoint(dir string) (string, error) {
	from := filepath.Join(dir, checkpointFile)
	to := from + ".incompatible"
	if err := os.Rename(from, to); err != nil {
		return "", fmt.Errorf("set checkpoint aside: %w", err)
	}
	return to, nil
}

// ReadCheckpoint restores the state from dir/analyzer.ckpt. It reports false, without
// error, when there is no checkpoint yet.
func (e *Engine) ReadCheckpoint(dir string) (bool, error) {
	f, err := os.Open(filepath.Join(dir, checkpointFile))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("open checkpoint: %w", err)
	}
	defer f.Close()
	if err := e.LoadState(f); err != nil {
		return false, err
	}
	return true, nil
}

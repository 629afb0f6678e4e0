package truth

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"
)

// Labels is the content of labels.json.
type Labels struct {
	// Scenario, Scale and Seed name the run that produced the capture.
	Scenario string `json:"scenario"`
	Scale    string `json:"scale"`
	Seed     uint64 `json:"seed"`
	// Start and End bound the capture (first and last possible call time).
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// CleanUntil is when the attack-free part of the capture ends.
	CleanUntil time.Time `json:"clean_until"`
	// Incidents are the attacks, one entry per attack instance.
	Incidents []Incident `json:"incidents"`
	// BenignClients are the clients that never attacked, for counting false alerts.
	BenignClients []Client `json:"benign_clients"`
	// Events are benign happenings meant to fool naive detectors.
	Events []Event `json:"events"`
	// Calls, Packets and Bytes are totals of the capture.
	Calls   int64 `json:"calls"`
	Packets int64 `json:"packets"`
	Bytes   int64 `json:"bytes"`
}

// Incident is one labelled attack.
type Incident struct {
	// ID is unique in the file: inc-0001, ...
	ID string `json:"id"`
	// Type is the attack type (scenario.AttackTypes).
	Type string `json:"type"`
	// Kinds are the finding kinds (models.Kind*) a detector would be expected to raise.
	Kinds []string `json:"kinds"`
	// Start and End are the first and last attack call.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Principals are the authenticated subjects the attack calls carry (JWT sub); empty
	// for unauthenticated attacks.
	Principals []string `json:"principals"`
	// Actors are the agents acting for the principals, when any.
	Actors []string `json:"actors,omitempty"`
	// Clients are the simulator's client ids involved (the attacker's, or the hijacked one's).
	Clients []string `json:"clients"`
	// IPs are the attack's source addresses.
	IPs []string `json:"ips"`
	// Calls is the number of attack calls.
	Calls int `json:"calls"`
	// Insider is set when an existing client turned abusive (it has a clean baseline).
	Insider bool `json:"insider"`
	// Description says what happened, with the randomised parameters.
	Description string `json:"description"`
	// Params are the attack's drawn parameters (rate, endpoints, sizes ...).
	Params map[string]any `json:"params,omitempty"`
}

// Client is one simulated client.
type Client struct {
	ID string `json:"id"`
	// Kind is user, partner, agent or batch; Group the client kind's name.
	Kind  string `json:"kind"`
	Group string `json:"group"`
	// Principal and Actor are what a sensor decodes from the credential (empty for API keys).
	Principal string   `json:"principal"`
	Actor     string   `json:"actor,omitempty"`
	IPs       []string `json:"ips"`
	// Heavy and Late mark benign confounders: far busier than peers, or first seen late.
	Heavy bool `json:"heavy,omitempty"`
	Late  bool `json:"late,omitempty"`
}

// Event is a benign happening.
type Event struct {
	Type        string    `json:"type"`
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
	Description string    `json:"description"`
}

// Call is one line of truth.jsonl: a call the simulator put on the wire.
type Call struct {
	TS        time.Time `json:"ts"`
	SrcIP     string    `json:"src_ip"`
	SrcPort   uint16    `json:"src_port"`
	DstIP     string    `json:"dst_ip"`
	DstPort   uint16    `json:"dst_port"`
	Method    string    `json:"method"`
	Host      string    `json:"host"`
	URI       string    `json:"uri"`
	Status    int       `json:"status"`
	RespBytes int       `json:"resp_bytes"`
	Client    string    `json:"client"`
	Principal string    `json:"principal,omitempty"`
	Actor     string    `json:"actor,omitempty"`
	Incident  string    `json:"incident,omitempty"`
}

// ReadLabels reads a labels.json file.
func ReadLabels(path string) (*Labels, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read labels: %w", err)
	}
	var l Labels
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("decode labels %s: %w", path, err)
	}
	return &l, nil
}

// WriteLabels writes l as indented JSON.
func WriteLabels(path string, l *Labels) error {
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// MaxLine bounds one JSON line read by ReadCalls and the evaluator.
const MaxLine = 1 << 20

// ReadCalls decodes truth.jsonl from r, calling fn for each call. Lines that do not
// decode are counted in bad and skipped.
func ReadCalls(r io.Reader, fn func(*Call)) (bad int, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxLine)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var c Call
		if json.Unmarshal(line, &c) != nil {
			bad++
			continue
		}
		fn(&c)
	}
	return bad, sc.Err()
}

package analyzer

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"time"

	"github.com/apiscope/apiscope/models"
)

// credentialDetector flags a credential (the same fingerprint, not merely the same
// subject) used from a new source address with a new user agent while its usual holder is
// active: a replayed token or a shared key. A new device that logs in gets its own token
// and is not flagged. A client that
// roams (new address, same app) or updates its app (same address, new agent) is not
// flagged; a new pair is flagged low when the usual one is idle and medium when both are
// used at once (the usual address active within the last minutes, or calls interleaving).
type credentialDetector struct {
	st credState
}

type credState struct {
	Clients map[string]*credPair
}

// credPair is the newest unexplained (address, agent) pair of a client.
type credPair struct {
	IP, UA      string
	Since, Last int64
	Fired       bool
}

func init() {
	Register("credential", true, func(*Config) Detector { return &credentialDetector{st: credState{Clients: map[string]*credPair{}}} })
}

func (d *credentialDetector) Name() string { return "credential" }

const (
	credActiveNS = int64(5 * time.Minute)
	credForgetNS = int64(time.Hour)
	credMaxPairs = 65536
)

func (d *credentialDetector) SaveState() ([]byte, error) {
	var b bytes.Buffer
	err := gob.NewEncoder(&b).Encode(&d.st)
	return b.Bytes(), err
}

func (d *credentialDetector) LoadState(b []byte) error {
	d.st = credState{}
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&d.st); err != nil {
		return err
	}
	if d.st.Clients == nil {
		d.st.Clients = map[string]*credPair{}
	}
	return nil
}

func (d *credentialDetector) Inspect(x *Context) {
	c := x.Call
	p := x.Profile
	ts := x.Obs.TS
	if !x.warm() || c.SrcIP == "" || c.Auth == models.AuthNone || c.Auth == "" {
		return
	}
	// A young client has no usual pair to speak of, but a session (a token, a cookie) is
	// one device's: a second pair using it while the first is still active is two parties,
	// however young the session. Keys and Basic credentials are shared by design among a
	// client's machines, so only mature ones are judged.
	young := !x.Obs.Mature
	if young && c.Auth != models.AuthJWT && c.Auth != models.AuthCookie {
		return
	}
	pair := d.st.Clients[p.ClientID]
	if pair != nil && ts-pair.Last > credForgetNS {
		delete(d.st.Clients, p.ClientID)
		pair = nil
	}
	newIP, newUA := !knows(&p.IPs, c.SrcIP), !knows(&p.UAs, c.UserAgent)
	if pair != nil && (c.SrcIP == pair.IP && c.UserAgent == pair.UA) {
		pair.Last = ts
		return
	}
	if pair != nil && !pair.Fired && c.SrcIP != pair.IP && c.UserAgent != pair.UA && ts-pair.Last <= credActiveNS {
		// The usual holder is back while the new pair is still in use: two parties share it.
		pair.Fired = true
		d.emit(x, pair, models.SeverityHigh, "interleaved with")
		return
	}
	if !newIP || !newUA {
		return
	}
	// A new device logs in and gets its own token; a replayed or shared credential is
	// one the client already presented elsewhere.
	if c.CredFP != "" && p.Creds[0].V != c.CredFP && p.Creds[1].V != c.CredFP {
		return
	}
	u := usual(&p.IPs)
	if u == nil {
		return
	}
	active := ts-u.Last <= credActiveNS
	if young && !active {
		return
	}
	if len(d.st.Clients) < credMaxPairs || pair != nil {
		// A young client's new pair is only remembered: it is flagged if the first pair
		// comes back while it is in use (above).
		d.st.Clients[p.ClientID] = &credPair{IP: c.SrcIP, UA: c.UserAgent, Since: ts, Last: ts, Fired: active && !young}
	}
	if young {
		return
	}
	sev, how := models.SeverityLow, "after a pause of"
	if active {
		sev, how = models.SeverityMedium, "while active on"
	}
	d.emit(x, &credPair{IP: c.SrcIP, UA: c.UserAgent, Since: ts}, sev, how)
}

func (d *credentialDetector) emit(x *Context, pair *credPair, sev, how string) {
	p := x.Profile
	u := usual(&p.IPs)
	ua := usual(&p.UAs)
	ev := map[string]any{
		"new_ip": pair.IP, "new_user_agent": pair.UA, "credential_fp": x.Call.CredFP,
		"auth": x.Call.Auth, "new_pair_since": time.Unix(0, pair.Since).UTC().Format(time.RFC3339Nano),
	}
	var usualIP string
	if u != nil {
		usualIP = u.V
		ev["usual_ip"] = u.V
		ev["usual_ip_calls"] = u.N
		ev["usual_ip_last_seen"] = time.Unix(0, u.Last).UTC().Format(time.RFC3339Nano)
	}
	if ua != nil {
		ev["usual_user_agent"] = ua.V
	}
	related := []string{pair.IP}
	if usualIP != "" && usualIP != pair.IP {
		related = append(related, usualIP)
		if related[1] < related[0] {
			related[0], related[1] = related[1], related[0]
		}
	}
	x.Emit(Signal{
		Kind: models.KindCredentialShared, Score: 1, Severity: sev, RelatedIPs: related,
		Summary: fmt.Sprintf("the credential of %s was used from new address %s with a new user agent %q %s its usual address %s",
			p.ClientID, pair.IP, truncate(pair.UA, 60), how, usualIP),
		Evidence: ev,
	})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

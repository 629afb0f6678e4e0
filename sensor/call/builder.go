package call

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"go.uber.org/zap"

	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/pkg/metrics"
	"github.com/apiscope/apiscope/sensor/httpwire"
	"github.com/apiscope/apiscope/sensor/identity"
	"github.com/apiscope/apiscope/sensor/template"
)

// Config configures a Builder. The zero value works: default identity rules, a key kept
// in the state file, learning templates, no OpenAPI document.
type Config struct {
	// Identity configures attribution. When Identity.Key is empty the key comes from Key.
	Identity identity.Config
	// Key says where the fingerprint key comes from (see identity.ResolveKey).
	Key identity.KeySource
	// Template configures templating; OpenAPI documents are added to Template.Specs.
	Template template.Config
	// OpenAPI lists OpenAPI documents as FILE or HOST=FILE (see template.LoadOpenAPI).
	OpenAPI []string
	// TemplatesFile, when set, is loaded by NewBuilder if it exists and written by Close.
	TemplatesFile string
	// Metrics receives the counters; nil means metrics.Default.
	Metrics *metrics.Registry
}

// Builder builds calls. Safe for concurrent use by every sensor worker.
type Builder struct {
	ids       *identity.Resolver
	templates *template.Templater
	file      string
	log       *zap.Logger
	noReq     *metrics.Counter

	saveMu   sync.Mutex
	saved    bool   // the file holds generation savedGen
	savedGen uint64 // what was last written or loaded
}

// NewBuilder resolves the fingerprint key, loads the OpenAPI documents and the saved
// templates, and returns a Builder. Errors name the flag-level cause in one line.
func NewBuilder(cfg Config, log *zap.Logger) (*Builder, error) {
	if log == nil {
		log = zap.NewNop()
	}
	reg := cfg.Metrics
	if reg == nil {
		reg = metrics.Default
	}
	idc := cfg.Identity
	if len(idc.Key) == 0 {
		k, err := identity.ResolveKey(cfg.Key, log)
		if err != nil {
			return nil, err
		}
		idc.Key = k
	}
	if idc.Metrics == nil {
		idc.Metrics = reg
	}
	ids, err := identity.New(idc, log)
	if err != nil {
		return nil, err
	}
	tc := cfg.Template
	tc.Specs = append([]*template.Spec(nil), tc.Specs...)
	for _, arg := range cfg.OpenAPI {
		s, err := template.LoadOpenAPI(arg)
		if err != nil {
			return nil, err
		}
		tc.Specs = append(tc.Specs, s)
	}
	if tc.Metrics == nil {
		tc.Metrics = reg
	}
	tp, err := template.New(tc)
	if err != nil {
		return nil, err
	}
	b := &Builder{
		ids: ids, templates: tp, file: cfg.TemplatesFile,
		log:   log.With(zap.String("component", "call")),
		noReq: reg.Counter("apiscope_call_build_errors_total", "Transactions the call builder could not use.", "reason", "no_request"),
	}
	if b.file != "" {
		data, err := os.ReadFile(b.file)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			log.Info("templates file does not exist yet; it will be written at exit", zap.String("file", b.file))
		case err != nil:
			return nil, fmt.Errorf("cannot read templates file: %w", err)
		default:
			if err := tp.Load(bytes.NewReader(data)); err != nil {
				return nil, fmt.Errorf("%s: %w", b.file, err)
			}
			log.Info("templates loaded", zap.String("file", b.file), zap.Uint64("generation", tp.Generation()))
			b.saved, b.savedGen = true, tp.Generation()
		}
	}
	return b, nil
}

// Templater returns the Builder's templater (for saving or inspection).
func (b *Builder) Templater() *template.Templater { return b.templates }

// Build fills out from tx, the transaction of the connection between client and server.
// out is overwritten entirely. tx is not retained; out's strings may share memory with
// tx's (strings are immutable). The template is the static one (classifier, OpenAPI,
// loaded templates); Learn later applies online learning in output order.
func (b *Builder) Build(tx *httpwire.Transaction, client, server netip.AddrPort, out *models.APICall) {
	b.build(tx, client, server, "", "", out, true)
}

// BuildWithAddrs is Build with the strings AddrString gives for client.Addr() and
// server.Addr() (either may be "" to have it worked out). A caller that builds many calls
// of one connection formats its addresses once instead of once per call.
func (b *Builder) BuildWithAddrs(tx *httpwire.Transaction, client, server netip.AddrPort, clientIP, serverIP string, out *models.APICall) {
	b.build(tx, client, server, clientIP, serverIP, out, true)
}

// AddrString is how calls show an address: IPv4-mapped IPv6 addresses as IPv4, the
// invalid address as "".
func (b *Builder) AddrString(a netip.Addr) string { return addrString(a) }

// SinkTemplated builds calls as its Builder does but leaves Template and Shadow to the
// sink: use it as the sensor's call builder when every call it builds reaches a sink
// wrapped by WrapSink, whose Learn sets both, so that the static template is not worked
// out only to be replaced.
type SinkTemplated struct{ b *Builder }

// SinkTemplated returns b's builder for calls that all go through b.WrapSink.
func (b *Builder) SinkTemplated() SinkTemplated { return SinkTemplated{b} }

// Build fills out as Builder.Build does except for Template and Shadow, left empty.
func (s SinkTemplated) Build(tx *httpwire.Transaction, client, server netip.AddrPort, out *models.APICall) {
	s.b.build(tx, client, server, "", "", out, false)
}

// BuildWithAddrs is Builder.BuildWithAddrs without Template and Shadow.
func (s SinkTemplated) BuildWithAddrs(tx *httpwire.Transaction, client, server netip.AddrPort, clientIP, serverIP string, out *models.APICall) {
	s.b.build(tx, client, server, clientIP, serverIP, out, false)
}

// AddrString is Builder.AddrString.
func (s SinkTemplated) AddrString(a netip.Addr) string { return addrString(a) }

func (b *Builder) build(tx *httpwire.Transaction, client, server netip.AddrPort, clientIP, serverIP string, out *models.APICall, static bool) {
	*out = models.APICall{}
	if tx == nil || tx.Req == nil {
		b.noReq.Inc()
		return
	}
	req := tx.Req
	out.TS = req.TS.UTC()
	if clientIP == "" {
		clientIP = addrString(client.Addr())
	}
	if serverIP == "" {
		serverIP = addrString(server.Addr())
	}
	out.SrcIP, out.SrcPort = clientIP, client.Port()
	out.DstIP, out.DstPort = serverIP, server.Port()
	out.Method = req.Method

	path, query := req.URI, ""
	hasQuery := false
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path, query, hasQuery = path[:i], path[i+1:], true
	}
	var id identity.Identity
	b.ids.Resolve(&req.Header, query, client.Addr(), &id) // a pointer: no copy into the interface
	out.Query = b.ids.RedactQuery(query)
	out.Path = path
	out.URI = req.URI
	if hasQuery && out.Query != query {
		out.URI = path + "?" + out.Query
	}

	out.Host = req.Header.Get("Host")
	originPath, authority := splitAbsolute(path)
	if out.Host == "" {
		out.Host = authority
	}
	if static {
		tr := b.templates.Static(out.Host, req.Method, originPath)
		out.Template, out.Shadow = tr.Template, tr.Shadow
	}

	out.ReqBytes = req.BodyBytes
	out.UserAgent = req.Header.Get("User-Agent")
	out.Partial, out.Truncated = req.Partial, req.Truncated
	if resp := tx.Resp; resp != nil {
		out.Status = resp.Status
		out.RespBytes = resp.BodyBytes
		out.ContentType = resp.Header.Get("Content-Type")
		if d := resp.TS.Sub(req.TS); d > 0 {
			out.LatencyMS = float64(d.Microseconds()) / 1000
		}
		out.Partial = out.Partial || resp.Partial
		out.Truncated = out.Truncated || resp.Truncated
	}
	if out.ContentType == "" {
		out.ContentType = req.Header.Get("Content-Type")
	}

	out.ClientID, out.Principal, out.Actor = id.ClientID, id.Principal, id.Actor
	out.Auth, out.CredFP, out.TraceID = id.Auth, id.CredFP, id.TraceID
	out.Scope, out.Issuer, out.XFF = id.Scope, id.Issuer, id.XFF

	if ce := b.log.Check(zap.DebugLevel, "call built"); ce != nil {
		ce.Write(zap.String("client_id", out.ClientID), zap.String("auth", out.Auth),
			zap.String("cred_fp", out.CredFP), zap.String("method", out.Method),
			zap.String("host", out.Host), zap.String("template", out.Template),
			zap.Int("status", out.Status), zap.Bool("shadow", out.Shadow))
	}
}

// splitAbsolute returns the origin-form path and the authority of an absolute-form
// request-target (http://host/path, as sent to proxies); other paths come back as they
// are with no authority.
func splitAbsolute(p string) (path, authority string) {
	if len(p) == 0 || p[0] == '/' {
		return p, "" // origin form, the common case: no scheme to compare
	}
	var rest string
	switch {
	case len(p) >= 7 && strings.EqualFold(p[:7], "http://"):
		rest = p[7:]
	case len(p) >= 8 && strings.EqualFold(p[:8], "https://"):
		rest = p[8:]
	default:
		return p, ""
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[i:], rest[:i]
	}
	return "/", rest
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.Unmap().String()
}

// Learn applies online template learning to c, a call made by Build, and records it for
// learning. Call it from one goroutine in output order (Sink does): the learned templates
// then depend only on the capture, not on how many workers built the calls. Safe for
// concurrent use, but concurrent callers make learning depend on their scheduling.
func (b *Builder) Learn(c *models.APICall) {
	originPath, _ := splitAbsolute(c.Path)
	tr := b.templates.Template(c.Host, c.Method, originPath, c.TS)
	c.Template, c.Shadow = tr.Template, tr.Shadow
}

// Sink is what the sensor writes calls to: Write in output order from one goroutine,
// Close once at the end. The sensor's Sink has the same methods.
type Sink interface {
	Write(c *models.APICall) error
	Close() error
}

// WrapSink returns a Sink that applies Learn to every call before passing it to next,
// and on Close saves the learned templates (when a templates file is configured) and
// closes next. This is where the sensor's ordered output stage meets the learner.
func (b *Builder) WrapSink(next Sink) Sink { return &learningSink{b: b, next: next} }

// learningSink is written by the sensor's output goroutine alone, as Sink requires.
type learningSink struct {
	b    *Builder
	next Sink
}

func (s *learningSink) Write(c *models.APICall) error {
	s.b.Learn(c)
	return s.next.Write(c)
}

func (s *learningSink) Close() error {
	err := s.b.SaveTemplates()
	if cerr := s.next.Close(); err == nil {
		err = cerr
	}
	return err
}

// SaveTemplates writes the learned templates to the templates file (replacing it
// atomically). It does nothing when no file is configured or nothing was learned since
// the file was last written or loaded.
func (b *Builder) SaveTemplates() error {
	if b.file == "" {
		return nil
	}
	b.saveMu.Lock()
	defer b.saveMu.Unlock()
	gen := b.templates.Generation()
	if b.saved && gen == b.savedGen {
		return nil
	}
	var buf bytes.Buffer
	if err := b.templates.Save(&buf); err != nil {
		return err
	}
	dir := filepath.Dir(b.file)
	tmp, err := os.CreateTemp(dir, ".templates-*.json")
	if err != nil {
		return fmt.Errorf("cannot write templates file: %w", err)
	}
	_, werr := tmp.Write(buf.Bytes())
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), b.file)
	}
	if werr != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("cannot write templates file: %w", werr)
	}
	b.saved, b.savedGen = true, gen
	b.log.Info("templates saved", zap.String("file", b.file), zap.Uint64("generation", gen))
	return nil
}

// Close saves the learned templates when a templates file is configured.
func (b *Builder) Close() error { return b.SaveTemplates() }

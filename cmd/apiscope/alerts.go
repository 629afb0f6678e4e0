package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/pkg/alerting"
	"github.com/apiscope/apiscope/pkg/kafkabus"
	"github.com/apiscope/apiscope/pkg/logging"
	"github.com/apiscope/apiscope/pkg/metrics"
)

var alertsFlags struct {
	kafka         kafkaFlags
	topic         string
	follow        bool
	fromBeginning bool
	tail          int
	minSeverity   string
	kinds         []string
	clients       []string
	format        string
	color         string
}

var alertsCmd = &cobra.Command{
	Use:   "alerts --brokers HOST:PORT [--follow] [--from-beginning] [--min-severity S] [--kind K] [--client C] [--format text|json|ocsf]",
	Short: "Read the alert stream",
	Long: `alerts reads the alert topic (apiscope.alerts): a live view for people, one line per alert
with time, severity, client, kind and summary (severity in colour on a terminal), or a pipe
for machines with --format json (the native Finding record) or --format ocsf (OCSF 1.3
Detection Finding, class_uid 2004). Records published in either format are understood.

It joins no consumer group and commits nothing, so it never disturbs other readers. Without
--follow it prints what the topic holds (the last --tail alerts of each partition, or all
with --from-beginning) in time order, one line per alert id (the latest record of an
incident whose severity was raised), and exits; with --follow it keeps printing new
alerts as they arrive until interrupted.`,
	Example: `  apiscope alerts --brokers 127.0.0.1:9092 --follow
  apiscope alerts --brokers 127.0.0.1:9092 --from-beginning --min-severity high --format json | jq .summary
  apiscope alerts --brokers kafka:9093 --kafka-tls --kafka-tls-ca ca.pem --follow --kind bola_enumeration --client jwt:alice
  apiscope alerts --brokers 127.0.0.1:9092 --from-beginning --format ocsf > findings.ocsf.jsonl`,
	Args: cobra.NoArgs,
	RunE: runAlerts,
}

func init() {
	f := alertsCmd.Flags()
	a := &alertsFlags
	a.kafka.registerConn(f, "Kafka bootstrap brokers, comma-separated host:port")
	f.StringVar(&a.topic, "topic", kafkabus.TopicAlerts, "alert topic")
	f.BoolVarP(&a.follow, "follow", "f", false, "keep printing new alerts until interrupted")
	f.BoolVar(&a.fromBeginning, "from-beginning", false, "start at the oldest alert the topic holds")
	f.IntVar(&a.tail, "tail", 20, "without --from-beginning, start this many alerts before the end of each partition")
	f.StringVar(&a.minSeverity, "min-severity", models.SeverityInfo, "least severity shown: info, low, medium, high, critical")
	f.StringSliceVar(&a.kinds, "kind", nil, "show only these kinds (repeatable or comma-separated)")
	f.StringSliceVar(&a.clients, "client", nil, "show only these client ids (repeatable or comma-separated)")
	f.StringVar(&a.format, "format", "text", "output: text, json (native Finding) or ocsf")
	f.StringVar(&a.color, "color", "auto", "colour severities in text output: auto, always, never")
	rootCmd.AddCommand(alertsCmd)
}

func runAlerts(cmd *cobra.Command, _ []string) error {
	a := &alertsFlags
	if !a.kafka.enabled() {
		return errors.New("--brokers is required")
	}
	cfg, err := a.kafka.connConfig()
	if err != nil {
		return err
	}
	if a.tail < 0 {
		return fmt.Errorf("--tail must not be negative, got %d", a.tail)
	}
	filter := alerting.Filter{MinSeverity: a.minSeverity, Kinds: a.kinds, Clients: a.clients}
	if err := filter.Validate(); err != nil {
		return fmt.Errorf("--min-severity: %w", err)
	}
	format := strings.ToLower(a.format)
	switch format {
	case "text", "json", "ocsf":
	default:
		return fmt.Errorf("--format %q: want text, json or ocsf", a.format)
	}
	var color bool
	switch a.color {
	case "always":
		color = true
	case "never":
	case "auto":
		color = format == "text" && cmd.OutOrStdout() == os.Stdout && logging.IsTerminal(os.Stdout) && os.Getenv("NO_COLOR") == ""
	default:
		return fmt.Errorf("--color %q: want auto, always or never", a.color)
	}
	out := bufio.NewWriter(cmd.OutOrStdout())
	defer out.Flush()
	p := alertPrinter{w: out, format: format, color: color, filter: filter,
		bad: metrics.Default.Counter("apiscope_alerts_undecodable_total", "Alert records apiscope alerts could not decode.")}

	opts := kafkabus.ReadOptions{FromBeginning: a.fromBeginning, Tail: a.tail, Follow: a.follow}
	ctx := cmd.Context()
	if !a.follow {
		// Print what the topic holds, in time order, the latest record of each alert id.
		latest := map[string]*models.Finding{}
		err := kafkabus.ReadTopic(ctx, cfg, a.topic, opts, func(m kafkabus.Message) error {
			if f := p.decode(m); f != nil {
				latest[f.ID] = f
			}
			return nil
		})
		if err != nil {
			return err
		}
		all := make([]*models.Finding, 0, len(latest))
		for _, f := range latest {
			all = append(all, f)
		}
		sort.Slice(all, func(i, j int) bool {
			if !all[i].TS.Equal(all[j].TS) {
				return all[i].TS.Before(all[j].TS)
			}
			return all[i].ID < all[j].ID
		})
		for _, f := range all {
			if err := p.print(f); err != nil {
				return err
			}
		}
		return nil
	}
	err = kafkabus.ReadTopic(ctx, cfg, a.topic, opts, func(m kafkabus.Message) error {
		if f := p.decode(m); f != nil {
			if err := p.print(f); err != nil {
				return err
			}
			return out.Flush()
		}
		return nil
	})
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil // interrupted: the normal end of --follow
	}
	return err
}

// alertPrinter renders alerts for apiscope alerts.
type alertPrinter struct {
	w      io.Writer
	format string
	color  bool
	filter alerting.Filter
	bad    *metrics.Counter
}

// decode reads one record; an undecodable one is counted and logged (sampled), never fatal.
func (p *alertPrinter) decode(m kafkabus.Message) *models.Finding {
	f, err := alerting.Decode(m.Value)
	if err != nil {
		p.bad.Inc()
		log.Warn("skipping an alert record that cannot be decoded", zap.Int("partition", m.Partition),
			zap.Int64("offset", m.Offset), zap.Error(err))
		return nil
	}
	return f
}

func (p *alertPrinter) print(f *models.Finding) error {
	if !p.filter.Match(f) {
		return nil
	}
	var line []byte
	switch p.format {
	case "text":
		line = []byte(alerting.Text(f, p.color))
	case "json":
		b, err := models.MarshalFinding(f)
		if err != nil {
			return err
		}
		line = b
	case "ocsf":
		b, err := alerting.MarshalOCSF(f)
		if err != nil {
			return err
		}
		line = b
	}
	line = append(line, '\n')
	_, err := p.w.Write(line)
	return err
}

// alertSinkFlags are the analyzer's alert delivery options besides the Kafka topic:
// format, storm control, webhook and syslog. The analyzer command registers them with
// register and builds the sinks with build.
type alertSinkFlags struct {
	format       string
	stormMax     int
	stormWindow  time.Duration
	webhookURL   string
	webhookFmt   string
	webhookQueue int
	syslogAddr   string
	syslogNet    string
	syslogFmt    string
	syslogCA     string
	syslogQueue  int
}

// register adds the alert delivery flags to fs.
func (a *alertSinkFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&a.format, "alert-format", alerting.FormatNative, "alert topic records: native (Finding JSON) or ocsf (OCSF 1.3 Detection Finding)")
	fs.IntVar(&a.stormMax, "alert-storm-max", 5, "storm control: alerts per client and kind per window; beyond it one summary alert says how many were folded (0 disables)")
	fs.DurationVar(&a.stormWindow, "alert-storm-window", 10*time.Minute, "storm control window, in capture time")
	fs.StringVar(&a.webhookURL, "webhook-url", "", "also POST each alert as JSON to this URL (signed with APISCOPE_WEBHOOK_SECRET)")
	fs.StringVar(&a.webhookFmt, "webhook-format", alerting.FormatNative, "webhook body: native or ocsf")
	fs.IntVar(&a.webhookQueue, "webhook-queue", 10_000, "alerts held while the webhook is slow or down; the oldest are dropped beyond it (counted)")
	fs.StringVar(&a.syslogAddr, "syslog-addr", "", "also send each alert to this syslog collector (host:port), RFC 5424")
	fs.StringVar(&a.syslogNet, "syslog-network", alerting.SyslogUDP, "syslog transport: udp, tcp or tls")
	fs.StringVar(&a.syslogFmt, "syslog-format", alerting.FormatCEF, "syslog message body: cef, native or ocsf")
	fs.StringVar(&a.syslogCA, "syslog-tls-ca", "", "PEM CA bundle verifying the syslog collector (tls)")
	fs.IntVar(&a.syslogQueue, "syslog-queue", 10_000, "alerts held while the syslog collector is unreachable")
}

// build returns the alert sinks the flags ask for besides Kafka (webhook, syslog), each
// behind filter, and the whole behind storm control; nil when none is configured. kafka,
// when not nil, is the alert-topic sink: it gets storm control too.
func (a *alertSinkFlags) build(filter alerting.Filter, kafka alerting.Sink, l *zap.Logger) (alerting.Sink, error) {
	if _, err := alerting.ParseFormat(a.format); err != nil {
		return nil, fmt.Errorf("--alert-format: %w", err)
	}
	if a.stormMax < 0 || a.stormWindow < 0 {
		return nil, errors.New("--alert-storm-max and --alert-storm-window must not be negative")
	}
	var sinks alerting.Multi
	closeAll := func() { _ = sinks.Close() }
	if kafka != nil {
		sinks = append(sinks, kafka)
	}
	if a.webhookURL != "" {
		w, err := alerting.NewWebhook(alerting.WebhookConfig{URL: a.webhookURL, Secret: os.Getenv("APISCOPE_WEBHOOK_SECRET"),
			Format: a.webhookFmt, QueueSize: a.webhookQueue}, l)
		if err != nil {
			closeAll()
			return nil, err
		}
		sinks = append(sinks, alerting.FilterSink{Filter: filter, Next: w})
	}
	if a.syslogAddr != "" {
		cfg := alerting.SyslogConfig{Network: a.syslogNet, Addr: a.syslogAddr, Format: a.syslogFmt, QueueSize: a.syslogQueue}
		if a.syslogCA != "" {
			pem, err := os.ReadFile(a.syslogCA)
			if err != nil {
				closeAll()
				return nil, fmt.Errorf("--syslog-tls-ca: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				closeAll()
				return nil, fmt.Errorf("--syslog-tls-ca: no PEM certificate in %s", a.syslogCA)
			}
			host, _, _ := net.SplitHostPort(a.syslogAddr)
			cfg.TLS = &tls.Config{RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12}
		}
		s, err := alerting.NewSyslog(cfg, l)
		if err != nil {
			closeAll()
			return nil, err
		}
		sinks = append(sinks, alerting.FilterSink{Filter: filter, Next: s})
	}
	if len(sinks) == 0 {
		return nil, nil
	}
	var out alerting.Sink = sinks
	if len(sinks) == 1 {
		out = sinks[0]
	}
	if a.stormMax > 0 {
		out = alerting.NewStormSink(alerting.StormConfig{Max: a.stormMax, Window: a.stormWindow}, out)
	}
	return out, nil
}

package pcapgen

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/apiscope/apiscope/pkg/simulate/internal/jsonfill"
)

func (w *Writer) buildRequest(x *Exchange) {
	b := w.req[:0]
	b = append(b, x.Method...)
	b = append(b, ' ')
	b = append(b, x.URI...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, x.Host...)
	if x.DstPort != 80 {
		b = append(b, ':')
		b = strconv.AppendUint(b, uint64(x.DstPort), 10)
	}
	b = append(b, "\r\nUser-Agent: "...)
	b = append(b, x.UserAgent...)
	b = append(b, "\r\nAccept: application/json\r\n"...)
	b = append(b, x.Headers...)
	if x.AuthHeader != "" {
		b = append(b, x.AuthHeader...)
		b = append(b, ": "...)
		b = append(b, x.AuthValue...)
		b = append(b, "\r\n"...)
	}
	if len(x.Body) > 0 || x.Method == "POST" || x.Method == "PUT" || x.Method == "PATCH" {
		b = append(b, "Content-Type: application/json\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(len(x.Body)), 10)
		b = append(b, "\r\n"...)
	}
	if x.Close {
		b = append(b, "Connection: close\r\n"...)
	}
	b = append(b, "\r\n"...)
	b = append(b, x.Body...)
	w.req = b
}

func (w *Writer) httpDate(ts int64) string {
	sec := ts / 1_000_000
	if sec != w.dateSec || w.date == "" {
		w.dateSec = sec
		w.date = time.Unix(sec, 0).UTC().Format(http.TimeFormat)
	}
	return w.date
}

func (w *Writer) buildResponse(x *Exchange) {
	body := w.body[:0]
	noBody := x.Status == 204 || x.Status == 304 || x.Method == "HEAD" || x.Status < 200
	switch {
	case noBody:
	case x.Status >= 400:
		body = jsonfill.AppendError(body, w.rng, x.Status)
	default:
		body = jsonfill.Append(body, w.rng, x.RespSize)
	}
	w.body = body
	b := w.resp[:0]
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(x.Status), 10)
	b = append(b, ' ')
	text := http.StatusText(x.Status)
	if text == "" {
		text = "Status"
	}
	b = append(b, text...)
	b = append(b, "\r\nDate: "...)
	b = append(b, w.httpDate(x.TS)...)
	b = append(b, "\r\n"...)
	if x.Server != "" {
		b = append(b, "Server: "...)
		b = append(b, x.Server...)
		b = append(b, "\r\n"...)
	}
	chunked := x.Chunked && !noBody && x.Status < 400
	if !noBody {
		b = append(b, "Content-Type: application/json; charset=utf-8\r\n"...)
		if chunked {
			b = append(b, "Transfer-Encoding: chunked\r\n"...)
		} else {
			b = append(b, "Content-Length: "...)
			b = strconv.AppendInt(b, int64(len(body)), 10)
			b = append(b, "\r\n"...)
		}
	}
	if x.Close {
		b = append(b, "Connection: close\r\n"...)
	}
	b = append(b, "\r\n"...)
	if chunked {
		b = appendChunked(b, body, w.rng)
	} else {
		b = append(b, body...)
	}
	w.resp = b
}

// appendChunked frames body as chunks of a few kilobytes, as servers streaming JSON do.
func appendChunked(b, body []byte, rng *rand.Rand) []byte {
	for len(body) > 0 {
		n := min(len(body), 512+rng.IntN(8192))
		b = strconv.AppendInt(b, int64(n), 16)
		b = append(b, "\r\n"...)
		b = append(b, body[:n]...)
		b = append(b, "\r\n"...)
		body = body[n:]
	}
	return append(b, "0\r\n\r\n"...)
}

package httpwire_test

import (
	"fmt"
	"time"

	"github.com/apiscope/apiscope/sensor/httpwire"
)

// The reassembler pushes each side's bytes as they are captured; the Conn works out that
// side 1 is the client and emits each transaction once its response is complete.
func ExampleConn() {
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := httpwire.NewConn(nil, func(tx *httpwire.Transaction) {
		if tx.Resp == nil {
			fmt.Printf("%s %s -> no response\n", tx.Req.Method, tx.Req.URI)
			return
		}
		fmt.Printf("%s %s -> %d, %d body bytes, %v\n", tx.Req.Method, tx.Req.URI,
			tx.Resp.Status, tx.Resp.BodyBytes, tx.Resp.TS.Sub(tx.Req.TS))
	})
	c.Feed(1, []byte("GET /users/42 HTTP/1.1\r\nHost: api\r\n\r\nGET /users/43 HT"), ts)
	c.Feed(1, []byte("TP/1.1\r\nHost: api\r\n\r\n"), ts.Add(time.Millisecond))
	c.Feed(0, []byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"), ts.Add(3*time.Millisecond))
	c.End(ts.Add(time.Second))
	// Output:
	// GET /users/42 -> 200, 2 body bytes, 3ms
	// GET /users/43 -> no response
}

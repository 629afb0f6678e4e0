package httpwire

import (
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/apiscope/apiscope/sensor/capture"
	"github.com/apiscope/apiscope/sensor/decode"
	"github.com/apiscope/apiscope/sensor/tcpstream"
)

type dbgConn struct {
	name string
	c    *Conn
}

func (d *dbgConn) Feed(side int, b []byte, ts time.Time) {
	q := b
	if len(q) > 120 {
		q = q[:120]
	}
	fmt.Printf("%s feed %d len=%d %q\n", d.name, side, len(b), q)
	d.c.Feed(side, b, ts)
}
func (d *dbgConn) Gap(side int, n int, ts time.Time) {
	fmt.Printf("%s gap %d %d\n", d.name, side, n)
	d.c.Gap(side, n, ts)
}
func (d *dbgConn) Close(side int, ts time.Time) { fmt.Printf("%s close %d\n", d.name, side); d.c.Close(side, ts) }
func (d *dbgConn) End(ts time.Time)             { fmt.Printf("%s end\n", d.name); d.c.End(ts) }

func TestZZDebug(t *testing.T) {
	path := os.Getenv("HWPCAP")
	if path == "" {
		t.Skip()
	}
	src, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := decode.NewDecoder(decode.Config{})
	asm := tcpstream.NewAssembler(&tcpstream.Config{}, func(c tcpstream.Conn) tcpstream.Handler {
		name := fmt.Sprintf("[%v-%v]", c.Side0, c.Side1)
		return &dbgConn{name: name, c: NewConn(nil, func(tx *Transaction) { fmt.Printf("%s TX %s\n", name, describe(tx)) })}
	}, nil)
	for {
		data, ci, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		seg, err := dec.Decode(data, src.LinkType(), ci)
		if err != nil || seg == nil {
			continue
		}
		asm.Add(seg)
	}
	asm.FlushAll()
}

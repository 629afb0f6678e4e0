package publish

import (
	"bufio"
	"fmt"
	"io"
	"os"

	"github.com/apiscope/apiscope/models"
)

// JSONL writes calls as JSON Lines through a buffer. It is not safe for concurrent use:
// the sensor writes from one goroutine.
type JSONL struct {
	w      *bufio.Writer
	closer io.Closer // nil for standard output and writers the caller owns
	line   []byte
	n      int64
}

// NewJSONL writes to w; Close flushes but does not close w.
func NewJSONL(w io.Writer) *JSONL {
	return &JSONL{w: bufio.NewWriterSize(w, 256<<10)}
}

// CreateJSONL writes to path, or to standard output when path is "-". The file is
// created or truncated.
func CreateJSONL(path string) (*JSONL, error) {
	if path == "-" {
		return NewJSONL(os.Stdout), nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("creating call output: %w", err)
	}
	j := NewJSONL(f)
	j.closer = f
	return j, nil
}

// inlineRoom is the free buffer space from which a line is encoded in place: a call's
// line is rarely longer.
const inlineRoom = 4 << 10

// Write appends c as one line. It does not retain c.
func (j *JSONL) Write(c *models.APICall) error {
	// Encoding straight into the writer's free space saves a copy per call. When little
	// space is left the line goes through j.line, kept between calls, so that a line that
	// outgrows the free space does not cost an allocation.
	buf := j.w.AvailableBuffer()
	inline := cap(buf) >= inlineRoom
	if !inline {
		buf = j.line[:0]
	}
	buf, err := models.AppendAPICallJSON(buf, c)
	if err != nil {
		return fmt.Errorf("encoding call: %w", err)
	}
	if !inline {
		j.line = buf
	}
	if _, err := j.w.Write(buf); err != nil {
		return fmt.Errorf("writing calls: %w", err)
	}
	j.n++
	return nil
}

// Written returns the number of calls written.
func (j *JSONL) Written() int64 { return j.n }

// Close flushes the buffer and closes the file it created.
func (j *JSONL) Close() error {
	err := j.w.Flush()
	if j.closer != nil {
		if cerr := j.closer.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("writing calls: %w", err)
	}
	return nil
}

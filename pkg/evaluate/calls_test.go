package evaluate

import (
	"strings"
	"testing"
)

func TestCompareCalls(t *testing.T) {
	truthIn := `{"ts":"2026-01-05T00:00:01Z","src_ip":"172.16.0.2","src_port":40000,"dst_ip":"10.0.0.1","dst_port":80,"method":"GET","host":"h","uri":"/a","status":200,"resp_bytes":10,"client":"web-0001"}
{"ts":"2026-01-05T00:00:02Z","src_ip":"172.16.0.2","src_port":40000,"dst_ip":"10.0.0.1","dst_port":80,"method":"GET","host":"h","uri":"/a","status":404,"client":"web-0001"}
{"ts":"2026-01-05T00:00:03Z","src_ip":"172.16.0.3","src_port":40001,"dst_ip":"10.0.0.1","dst_port":80,"method":"POST","host":"h","uri":"/b?x=1","status":201,"client":"web-0002"}
{"ts":"2026-01-05T00:00:04Z","src_ip":"172.16.0.3","src_port":40001,"dst_ip":"10.0.0.1","dst_port":80,"method":"GET","host":"h","uri":"/c","status":200,"client":"web-0002"}
garbage
`
	callsIn := `{"ts":"2026-01-05T00:00:02Z","src_ip":"172.16.0.2","src_port":40000,"dst_ip":"10.0.0.1","dst_port":80,"method":"GET","uri":"/a","status":404}
{"ts":"2026-01-05T00:00:01Z","src_ip":"172.16.0.2","src_port":40000,"dst_ip":"10.0.0.1","dst_port":80,"method":"GET","uri":"/a","status":200,"resp_bytes":10}
{"ts":"2026-01-05T00:00:03.000001Z","src_ip":"172.16.0.3","src_port":40001,"dst_ip":"10.0.0.1","dst_port":80,"method":"POST","uri":"/b?x=1","status":0}
{"ts":"2026-01-05T00:00:09Z","src_ip":"172.16.0.9","src_port":1,"dst_ip":"10.0.0.1","dst_port":80,"method":"GET","uri":"/zzz","status":200}
{broken
`
	r, err := CompareCalls(strings.NewReader(truthIn), strings.NewReader(callsIn))
	if err != nil {
		t.Fatal(err)
	}
	if r.Truth != 4 || r.Sensor != 4 || r.Found != 3 || r.StatusAgree != 2 || r.Extras != 1 || r.ExactTS != 2 || r.BytesAgree != 3 ||
		r.BadTruth != 1 || r.BadSensor != 1 || len(r.Missing) != 1 || !strings.Contains(r.Missing[0], "/c") {
		t.Errorf("CompareCalls = %+v", r)
	}
	var b strings.Builder
	_ = r.WriteText(&b)
	if !strings.HasSuffix(b.String(), "found_share=0.7500 status_agreement=0.6667 extras=1\n") {
		t.Errorf("text ends %q", b.String())
	}
}

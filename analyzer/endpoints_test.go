package analyzer

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"strings"
	"testing"
)

func TestCanonicalTemplate(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		// Placeholders of any name are one form.
		{"/vehicles/{param}/ota/{id}", "/vehicles/{id}/ota/{id}"},
		{"/repos/{owner}/{repo}/pulls", "/repos/{id}/{id}/pulls"},
		// Identifiers the sensor left literal.
		{"/partner/v1/claims/CDIIBCKI0U/decision", "/partner/v1/claims/{id}/decision"},
		{"/api/vehicles/UCZQUQCIBK/commands", "/api/vehicles/{id}/commands"},
		{"/orders/ORD-12345", "/orders/{id}"},
		{"/users/{id}/orders/42", "/users/{id}/orders/{id}"},
		{"/files/report2024x", "/files/{id}"},
		{"/objects/550e8400-e29b-41d4-a716-446655440000", "/objects/{id}"},
		{"/blobs/a3f9c2e1b7d4", "/blobs/{id}"},
		{"/events/01HF3Z6X6W9QK2M8R4T5V7Y9ZB", "/events/{id}"},
		{"/reports/2024-01-31/summary", "/reports/{id}/summary"},
		{"/users/alice@example.com/keys", "/users/{id}/keys"},
		{"/customers/cus_9s8d7f6g5h4j", "/customers/{id}"},
		// Versions, words and slugs of words stay literal (positions holding many of them
		// are learned, see TestEndpointMining).
		{"/v1/oauth2/token", "/v1/oauth2/token"},
		{"/api/v2beta1/users/me", "/api/v2beta1/users/me"},
		{"/blog/my-first-post", "/blog/my-first-post"},
		{"/fhir/r4/Patient/{id}/$everything", "/fhir/r4/Patient/{id}/$everything"},
		{"/Settings/PaymentMethods", "/Settings/PaymentMethods"},
		{"/", "/"},
		{"", ""},
		{"/a//b/", "/a//b/"},
	} {
		if got := canonicalTemplate(tc.in); got != tc.want {
			t.Errorf("canonicalTemplate(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

// miningCall is one call of a mining case: the sensor's template, the path (empty: the
// engine gives lookup the template alone), and the analyzer template expected for it
// ("" to skip the check, for calls that only set the scene).
type miningCall struct{ tmpl, path, want string }

func TestEndpointMining(t *testing.T) {
	repeat := func(n int, f func(i int) miningCall) []miningCall {
		var out []miningCall
		for i := 0; i < n; i++ {
			out = append(out, f(i))
		}
		return out
	}
	files := []string{"nova", "breeze", "cable", "delta", "eagle", "falcon", "garden", "harbor", "iris"}
	cases := []struct {
		name  string
		calls []miningCall
		// same lists indexes of calls that must share one endpoint with the first of them.
		same [][]int
	}{
		{
			name: "one endpoint whether the sensor classified or learned the id",
			calls: []miningCall{
				{"/vehicles/{param}/ota/{id}", "", "/vehicles/{id}/ota/{id}"},
				{"/vehicles/{id}/ota/{id}", "", "/vehicles/{id}/ota/{id}"},
			},
			same: [][]int{{0, 1}},
		},
		{
			name: "a prefix folded into {param} is the literal it always was",
			calls: []miningCall{
				{"/api/v3/repos/{id}", "", "/api/v3/repos/{id}"},
				{"/api/v3/repos", "", "/api/v3/repos"},
				{"/{param}/v3/repos/{id}", "", "/api/v3/repos/{id}"},
				{"/{param}/v3/repos", "", "/api/v3/repos"},
			},
			same: [][]int{{0, 2}, {1, 3}},
		},
		{
			name: "two literals seen at the place: the fold stays a parameter",
			calls: []miningCall{
				{"/api/v1/status", "", "/api/v1/status"},
				{"/admin/v1/status", "", "/admin/v1/status"},
				{"/{param}/v1/status", "", "/{id}/v1/status"},
			},
		},
		{
			name: "with the path, a cascade of folds keeps the names known before it",
			calls: []miningCall{
				{"/api/vehicles/{id}", "/api/vehicles/7", "/api/vehicles/{id}"},
				{"/api/trips/{id}", "/api/trips/9", "/api/trips/{id}"},
				{"/api/vehicles", "/api/vehicles", "/api/vehicles"},
				{"/{param}/{param}/{id}", "/api/vehicles/8", "/api/vehicles/{id}"},
				{"/{param}/{param}/{id}", "/api/trips/10", "/api/trips/{id}"},
				{"/{param}/{param}", "/api/vehicles", "/api/vehicles"},
				{"/{param}/{param}/{id}", "/wp-admin/x/11", "/{id}/{id}/{id}"},
				{"/{param}/{param}/{param}", "/api/vehicles/ABCDEFGHJK", "/api/vehicles/{id}"},
			},
			same: [][]int{{0, 3, 7}, {1, 4}, {2, 5}},
		},
		{
			name: "file names under a learned position fold into it, the first ones too",
			calls: append(append(
				repeat(len(files), func(i int) miningCall {
					p := "/repos/{id}/contents/" + files[i]
					return miningCall{p, "", p}
				}),
				miningCall{"/repos/{id}/contents/{param}", "", "/repos/{id}/contents/{id}"},
				miningCall{"/repos/{id}/contents/nova", "", "/repos/{id}/contents/{id}"},
				miningCall{"/repos/{id}/contents/zephyr", "", "/repos/{id}/contents/{id}"},
			),
				miningCall{"/repos/{id}/contents/v2", "", "/repos/{id}/contents/v2"}),
			same: [][]int{{len(files), len(files) + 1, len(files) + 2}},
		},
		{
			name: "a function beside classified ids keeps its own endpoint",
			calls: []miningCall{
				{"/users/{id}", "", "/users/{id}"},
				{"/users/me", "", "/users/me"},
				{"/users/export", "", "/users/export"},
			},
		},
		{
			name: "resources with endpoints below them are not folded as data names",
			calls: append(
				repeat(9, func(i int) miningCall {
					p := fmt.Sprintf("/api/res%c", 'a'+i)
					return miningCall{p + "/{id}", "", p + "/{id}"}
				}),
				append(repeat(9, func(i int) miningCall {
					p := fmt.Sprintf("/api/res%c", 'a'+i)
					return miningCall{p, "", p}
				}),
					miningCall{"/api/{param}", "", "/api/{id}"},
					miningCall{"/api/resa", "", "/api/resa"})...),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tab := newEndpointTable()
			ids := make([]uint32, len(tc.calls))
			for i, c := range tc.calls {
				var id uint32
				if c.path != "" {
					id, _ = tab.lookupPath("h", "GET", c.path, c.tmpl, int64(i))
				} else {
					id, _ = tab.lookup("h", "GET", c.tmpl, int64(i))
				}
				ids[i] = id
				if got := tab.List[id].Template; c.want != "" && got != c.want {
					t.Errorf("call %d (%s %s): template %q; want %q", i, c.tmpl, c.path, got, c.want)
				}
			}
			for _, g := range tc.same {
				for _, i := range g[1:] {
					if ids[i] != ids[g[0]] {
						t.Errorf("calls %d and %d: endpoints %d (%s) and %d (%s); want one", g[0], i,
							ids[g[0]], tab.List[ids[g[0]]].Template, ids[i], tab.List[ids[i]].Template)
					}
				}
			}
		})
	}
}

func TestObjectID(t *testing.T) {
	for _, tc := range []struct {
		path, tmpl string
		last       string // the object the call is about; "" when none
		sameAs     string // a path whose object hash must be the same under tmpl
	}{
		{"/orders/42/items", "/orders/{id}/items", "42", ""},
		{"/users/7/export", "/users/{id}/export", "7", ""},
		{"/vehicles/V1/commands/C9/ack", "/vehicles/{id}/commands/{id}/ack", "C9", ""},
		// A namespace folded into a placeholder is no part of the object.
		{"/api/v3/repos/abc", "/{id}/v3/repos/{id}", "abc", "/rest/v3/repos/abc"},
		{"/v2/orders/5", "/{id}/orders/{id}", "5", "/v3/orders/5"},
		{"/api/status", "/{id}/status", "", ""},
		// An identifier in first position is an object.
		{"/42/orders", "/{id}/orders", "42", ""},
		{"/orders", "/orders", "", ""},
	} {
		h, last, ok := objectID(tc.path, tc.tmpl, "")
		if last != tc.last || ok != (tc.last != "") {
			t.Errorf("objectID(%q, %q) = %q, %v; want %q", tc.path, tc.tmpl, last, ok, tc.last)
		}
		if tc.sameAs != "" {
			if h2, _, _ := objectID(tc.sameAs, tc.tmpl, ""); h2 != h {
				t.Errorf("objectID(%q) and objectID(%q) under %q differ; want one object", tc.path, tc.sameAs, tc.tmpl)
			}
		}
	}
}

func TestCollection(t *testing.T) {
	for _, tc := range []struct{ tmpl, name, parent string }{
		{"/v1/orders/{id}/shipment", "orders", "/v1"},
		{"/orders/{id}/items", "orders", ""},
		{"/users/{id}/export", "users", ""},
		{"/vehicles/{id}/commands/{id}/ack", "commands", "/vehicles/{id}"},
		{"/repos/{id}/contents/{id}", "contents", "/repos/{id}"},
		{"/{id}/v3/repos/{id}", "repos", "/{id}/v3"},
		{"/{id}/vehicles", "", ""},
		{"/orders", "", ""},
		{"", "", ""},
	} {
		if name, parent := collection(tc.tmpl); name != tc.name || parent != tc.parent {
			t.Errorf("collection(%q) = %q, %q; want %q, %q", tc.tmpl, name, parent, tc.name, tc.parent)
		}
	}
}

func BenchmarkLookupPath(b *testing.B) {
	tab := newEndpointTable()
	tab.lookup("h", "GET", "/api/vehicles/{id}", 0)
	paths := []string{"/api/vehicles/1", "/api/vehicles/2", "/api/vehicles/3"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		tab.lookupPath("h", "GET", paths[i%3], "/{param}/{param}/{id}", int64(i))
	}
}

// FuzzEndpointMining: any sequence of (template, path) pairs goes through the endpoint
// table without a panic; every endpoint it returns exists and carries a canonical
// template (no {param}, canonicalTemplate leaves it as it is); the object id of a path
// under it never panics.
func FuzzEndpointMining(f *testing.F) {
	f.Add("/{param}/{param}/{id}", "/api/vehicles/7", "/api/vehicles/{id}", "/api/vehicles/8")
	f.Add("/{param}/v3/repos/{id}", "/api/v3/repos/ab12", "/api/v3/repos/{id}", "/api/v3/repos/cd34")
	f.Add("/repos/{id}/contents/{param}", "/repos/1/contents/nova", "/repos/{id}/contents/nova", "/repos/1/contents/nova")
	f.Add("/a//{param}/", "/a//b/", "{param}", "")
	f.Add("/{param}", "/", "/x/{param}/{param}", "/x/y")
	f.Fuzz(func(t *testing.T, t1, p1, t2, p2 string) {
		tab := newEndpointTable()
		for i, c := range [][2]string{{t1, p1}, {t2, p2}, {t1, p2}, {t2, p1}} {
			var id uint32
			if i%2 == 0 {
				id, _ = tab.lookupPath("h", "GET", c[1], c[0], int64(i))
			} else {
				id, _ = tab.lookup("h", "GET", c[0], int64(i))
			}
			if int(id) >= len(tab.List) || id == 0 {
				t.Fatalf("lookup(%q, %q) = %d of %d endpoints", c[0], c[1], id, len(tab.List))
			}
			got := tab.List[id].Template
			if strings.Contains(got, "{param}") || canonicalTemplate(got) != got {
				t.Fatalf("lookup(%q, %q): template %q is not canonical", c[0], c[1], got)
			}
			objectID(c[1], got, "")
			collection(got)
		}
	})
}

// TestEndpointTableUpgrade: a table checkpointed before canonical templates (no alias or
// prefix indexes, templates as the sensor rendered them) still finds its endpoints under
// their canonical form, keeping their names.
func TestEndpointTableUpgrade(t *testing.T) {
	old := newEndpointTable()
	hm := fnvSep(fnvString(fnvSep(fnvString(fnvOffset, "h")), "GET"))
	for _, tmpl := range []string{"/vehicles/{param}/ota/{id}", "/api/v3/repos/{id}"} {
		old.IDs[fnvString(hm, tmpl)] = uint32(len(old.List))
		old.List = append(old.List, endpoint{Host: "h", Method: "GET", Template: tmpl, HasID: true})
	}
	old.Aliases, old.Prefixes, old.Inner = nil, nil, nil
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(old); err != nil {
		t.Fatal(err)
	}
	var tab endpointTable
	if err := gob.NewDecoder(&buf).Decode(&tab); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tmpl string
		want uint32
	}{
		{"/vehicles/{id}/ota/{id}", 1},
		{"/vehicles/{param}/ota/{param}", 1},
		{"/{param}/v3/repos/{id}", 2},
	} {
		id, created := tab.lookup("h", "GET", tc.tmpl, 10)
		if id != tc.want || created {
			t.Errorf("lookup(%q) = %d, created %v; want %d (%s), not created", tc.tmpl, id, created, tc.want, tab.List[tc.want].Template)
		}
	}
	if got := tab.List[1].Template; got != "/vehicles/{param}/ota/{id}" {
		t.Errorf("endpoint renamed to %q; want its name kept", got)
	}
}

// TestQueryObjectID: RPC-style calls name their object in the query; per-request ids,
// words and look-alike names (paid, valid) do not.
func TestQueryObjectID(t *testing.T) {
	for _, tc := range []struct {
		query, last string
	}{
		{"orderId=700123", "700123"},
		{"id=5&format=pdf", "5"},
		{"order_id=ord_9s8d7f6g5h1", "ord_9s8d7f6g5h1"},
		{"accountID=40007&orderId=700123", "700123"},
		{"uuid=123e4567-e89b-12d3-a456-426614174000", "123e4567-e89b-12d3-a456-426614174000"},
		{"requestId=8f14e45fceea167a5a36dedd4bea2543", ""},
		{"traceId=4bf92f3577b34da6a3ce929d0e0e4736&sessionId=77", ""},
		{"paid=1&valid=2&grid=3", ""},
		{"id=latest", ""},
		{"page=3&sort=price", ""},
		{"", ""},
	} {
		_, last, ok := objectID("/rpc/getOrder.do", "/rpc/getOrder.do", tc.query)
		if last != tc.last || ok != (tc.last != "") {
			t.Errorf("objectID(query %q) = %q, %v; want %q", tc.query, last, ok, tc.last)
		}
	}
	// The path's object wins over the query's.
	if _, last, _ := objectID("/orders/5", "/orders/{id}", "orderId=7"); last != "5" {
		t.Errorf("path object: got %q, want 5", last)
	}
	// Two parameters name one object only together.
	a, _, _ := objectID("/rpc/x", "/rpc/x", "accountId=1&orderId=2")
	b, _, _ := objectID("/rpc/x", "/rpc/x", "accountId=3&orderId=2")
	if a == b {
		t.Errorf("different accounts hash alike")
	}
}

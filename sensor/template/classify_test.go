package template

import "testing"

func TestClassify(t *testing.T) {
	tests := []struct {
		seg  string
		want Class
	}{
		{"", Literal},
		{"users", Literal},
		{"me", Literal},
		{"v1", Version},
		{"V2", Version},
		{"v1.2", Version},
		{"v1beta1", Version},
		{"v2alpha", Version},
		{"1.0", Version},
		{"2.1.3", Version},
		{"vue", Literal},
		{"v1x", Literal},
		{"42", Number},
		{"2024", Number},
		{"0", Number},
		{"123e4567-e89b-12d3-a456-426614174000", UUID},
		{"123E4567-E89B-12D3-A456-426614174000", UUID},
		{"5f2b8c9a", Hex},
		{"507f1f77bcf86cd799439011", Hex},
		{"da39a3ee5e6b4b0d3255bfef95601890afd80709", Hex},
		{"deadbeef", Literal},
		{"facade", Literal},
		{"abcdefabcdefabcd", Hex},
		{"alice@example.com", Email},
		{"alice%40example.com", Email},
		{"bob.smith+tag@mail.example.org", Email},
		{"@handle", Literal},
		{"2024-01-31", Date},
		{"2024-01-31T12:00:00Z", Date},
		{"2024-13-01", Literal},
		{"ORD-12345", PrefixedID},
		{"INV-2024-0007", PrefixedID},
		{"cus_9s8d7f6g5h4j", PrefixedID},
		{"item_12345", PrefixedID},
		{"report-2024", Literal},
		{"summer-2023", Literal},
		{"utf-8", Literal},
		{"x86_64", Literal},
		{"report-2024.pdf", Literal},
		{"index.html", Literal},
		{"openapi.json", Literal},
		{"123.json", FileID},
		{"123e4567-e89b-12d3-a456-426614174000.png", FileID},
		{"xk29fjq8z3mv7p2n", Token},
		{"a8f3k2j9x7", Token},
		{"dGhpcyBpcyBhIHRlc3Q", Token},
		{"V1StGXR8_Z5jdHi6B-myT", Token},
		{"my-first-blog-post", Literal},
		{"how-to-use-api-v2", Literal},
		{"getUserPreferencesByName", Literal},
		{"oauth2", Literal},
		{"sha256", Literal},
		{"i18n", Literal},
		{"ipv6", Literal},
		{"10.0.0.1", IP},
		{"gts1o1core", Literal},
		{"NSL-InvestorPitch-9.007-420x420.jpg", Literal},
		{"mini-260291c208bf3376b5111db855e89451.zip", FileID},
		{"2024-01-31.json", FileID},
		{"420x420", Literal},
		{"Bookshelf-40x201_6.png", Literal},
		{"256.0.0.1", Literal},
		{"John%20Doe", Literal},
		{"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlMTIz", Token},
	}
	for _, tt := range tests {
		if got := Classify(tt.seg); got != tt.want {
			t.Errorf("Classify(%q) = %v; want %v", tt.seg, got, tt.want)
		}
	}
}

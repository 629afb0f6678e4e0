package template

import "strings"

// Placeholders written into templates.
const (
	// ID replaces a segment the classifier recognises as an identifier.
	ID = "{id}"
	// Param replaces a segment position learned to hold too many distinct values to be a
	// name.
	Param = "{param}"
)

// Class is what the classifier makes of one path segment.
type Class uint8

// Segment classes. Every class but Literal and Version becomes ID in a template.
const (
	Literal    Class = iota // an ordinary word, file name or anything not recognised
	Version                 // v1, v2.1, v1beta1: kept literal and never learned away
	Number                  // 42
	UUID                    // 123e4567-e89b-12d3-a456-426614174000
	Hex                     // 8+ hex digits with a digit (or 16+ without)
	Token                   // base64url-like random token or long random slug
	Email                   // alice@example.com (also %40)
	Date                    // 2024-01-31, 2024-01-31T12:00:00Z
	PrefixedID              // ORD-12345, cus_9s8d7f6g5h
	FileID                  // 123.json, <uuid>.png: an identifier with a file extension
	IP                      // 10.0.0.1
)

// IsID reports whether segments of class c become a placeholder.
func (c Class) IsID() bool { return c > Version }

var classNames = [...]string{"literal", "version", "number", "uuid", "hex", "token", "email", "date", "prefixed_id", "file_id", "ip"}

func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return "unknown"
}

// Classify returns the class of one raw path segment (no '/'). It does not allocate and
// never panics. The rules, first match wins:
//
//   - version-like names (v1, V2, v1.2, v1beta1, v2alpha3, 1.0, 2.1.3) are Version;
//   - dotted quads (10.0.0.1): IP;
//   - all digits: Number; 8-4-4-4-12 hex: UUID; YYYY-MM-DD with optional time: Date;
//   - local@domain.tld (or %40): Email;
//   - 8+ hex digits containing a digit, or 16+ hex letters: Hex;
//   - a short alphabetic prefix, '-' or '_', then digits or a random token (ORD-12345,
//     INV-2024-0007, cus_9s8d7f6g5h4j): PrefixedID, unless the prefix is a lowercase word
//     followed by a year-like 4-digit run (report-2024);
//   - a stem.ext file name whose stem is an identifier (Number, UUID, Hex, Token,
//     PrefixedID, Date): FileID; any other file name (report-2024.pdf) is Literal; a JWT
//     (eyJ..., two dots) is Token;
//   - random-looking tokens: 16+ base64url characters with a piece (between '-' or '_')
//     of 8+ characters that switches between letters and digits at least three times (or
//     12+ mixing case and digits); or 8-15 alphanumerics with 3+ digits switching at
//     least four times: Token.
//
// Words, slugs of words (my-first-post), camelCase names and dotted names stay Literal;
// positions holding many of them are left to online learning.
func Classify(s string) Class {
	n := len(s)
	if n == 0 {
		return Literal
	}
	if (s[0] == 'v' || s[0] == 'V') && isVersion(s) {
		return Version
	}
	var digits, lower, upper, hexLetters, other, seps, dots, ats int
	for i := 0; i < n; i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			digits++
		case 'a' <= c && c <= 'z':
			lower++
			if c <= 'f' {
				hexLetters++
			}
		case 'A' <= c && c <= 'Z':
			upper++
			if c <= 'F' {
				hexLetters++
			}
		case c == '-' || c == '_':
			seps++
		case c == '.':
			dots++
		case c == '@':
			ats++
		default:
			other++
		}
	}
	if digits == n {
		return Number
	}
	if n == 36 && isUUID(s) {
		return UUID
	}
	// The checks below call out only when the counts allow a match: a date has two '-',
	// an email an '@' or "%40" ('%' counts as other), a token letters and digits.
	if seps >= 2 && isDate(s) {
		return Date
	}
	if (ats > 0 || other > 0) && isEmail(s) {
		return Email
	}
	if other > 0 || ats > 0 {
		return Literal
	}
	if dots == 0 && seps == 0 && digits+hexLetters == n && (n >= 8 && digits > 0 || n >= 16) && !(upper > 0 && lower > 0) {
		return Hex
	}
	if dots > 0 {
		if digits+dots == n {
			return numericDotted(s, dots)
		}
		if c := classifyFile(s); c != Literal {
			return c
		}
		if dots == 2 && n >= 32 && strings.HasPrefix(s, "eyJ") && seps+digits+lower+upper+dots == n {
			return Token // a JWT in the path
		}
		return Literal
	}
	if seps > 0 && isPrefixedID(s) {
		return PrefixedID
	}
	if digits > 0 && lower+upper > 0 && isToken(s, digits, lower, upper) {
		return Token
	}
	return Literal
}

// numericDotted classifies digits-and-dots segments: IPv4 addresses are IP, short dotted
// numbers (1.0, 2.1.3) are Version, anything else Literal.
func numericDotted(s string, dots int) Class {
	if dots == 3 && len(s) <= 15 {
		ok := true
		for rest := s; rest != ""; {
			part := rest
			if k := strings.IndexByte(rest, '.'); k >= 0 {
				part, rest = rest[:k], rest[k+1:]
				if rest == "" {
					ok = false // trailing dot
				}
			} else {
				rest = ""
			}
			if part == "" || len(part) > 3 || len(part) > 1 && part[0] == '0' || atoi3(part) > 255 {
				ok = false
			}
		}
		if ok {
			return IP
		}
		return Literal
	}
	if dots <= 2 && len(s) <= 8 && s[0] != '.' && s[len(s)-1] != '.' && !strings.Contains(s, "..") {
		return Version
	}
	return Literal
}

func atoi3(s string) int {
	v := 0
	for i := 0; i < len(s); i++ {
		v = v*10 + int(s[i]-'0')
	}
	return v
}

// isVersion matches v1, V2, v1.2, v1_2, v1beta1, v2alpha.
func isVersion(s string) bool {
	if len(s) < 2 || len(s) > 16 || (s[0] != 'v' && s[0] != 'V') || !isDigit(s[1]) {
		return false
	}
	i := 1
	for i < len(s) && (isDigit(s[i]) || s[i] == '.' || s[i] == '_') {
		i++
	}
	if s[i-1] == '.' || s[i-1] == '_' {
		return false
	}
	if i == len(s) {
		return true
	}
	for _, q := range []string{"alpha", "beta", "rc", "preview"} {
		if strings.HasPrefix(s[i:], q) {
			j := i + len(q)
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			return j == len(s)
		}
	}
	return false
}

func isUUID(s string) bool {
	for i := 0; i < 36; i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return false
			}
		default:
			if !isHexDigit(s[i]) {
				return false
			}
		}
	}
	return true
}

// isDate matches YYYY-MM-DD, optionally followed by 'T' or ' ' and anything time-like.
func isDate(s string) bool {
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return false
	}
	for _, i := range [...]int{0, 1, 2, 3, 5, 6, 8, 9} {
		if !isDigit(s[i]) {
			return false
		}
	}
	mo := int(s[5]-'0')*10 + int(s[6]-'0')
	d := int(s[8]-'0')*10 + int(s[9]-'0')
	if mo < 1 || mo > 12 || d < 1 || d > 31 {
		return false
	}
	if len(s) == 10 {
		return true
	}
	if s[10] != 'T' && s[10] != 't' && s[10] != '_' {
		return false
	}
	for i := 11; i < len(s); i++ {
		c := s[i]
		if !(isDigit(c) || c == ':' || c == '.' || c == 'Z' || c == 'z' || c == '+' || c == '-' || c == '%') {
			return false
		}
	}
	return true
}

// isEmail matches local@domain.tld, with '@' possibly escaped as %40.
func isEmail(s string) bool {
	at, w := strings.IndexByte(s, '@'), 1
	if at < 0 {
		at, w = strings.Index(s, "%40"), 3
	}
	if at <= 0 || at+w >= len(s) {
		return false
	}
	dom := s[at+w:]
	dot := strings.LastIndexByte(dom, '.')
	if dot <= 0 || dot == len(dom)-1 {
		return false
	}
	for i := 0; i < len(dom); i++ {
		c := dom[i]
		if !(isAlnum(c) || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// isPrefixedID matches a 1-12 letter prefix, '-' or '_', and a run of digits (or a random
// token), possibly in more groups: ORD-12345, INV-2024-0007, cus_9s8d7f6g5h4j.
func isPrefixedID(s string) bool {
	i := 0
	for i < len(s) && isLetter(s[i]) {
		i++
	}
	if i == 0 || i > 12 || i >= len(s)-1 || (s[i] != '-' && s[i] != '_') {
		return false
	}
	prefix, rest := s[:i], s[i+1:]
	upperPrefix := true
	for j := 0; j < len(prefix); j++ {
		if !('A' <= prefix[j] && prefix[j] <= 'Z') {
			upperPrefix = false
		}
	}
	// The rest is groups of digits (or hex/random tokens) joined by '-' or '_'.
	var digits, groups int
	allDigits := true
	for rest != "" {
		var g string
		if k := strings.IndexAny(rest, "-_"); k >= 0 {
			g, rest = rest[:k], rest[k+1:]
		} else {
			g, rest = rest, ""
		}
		if g == "" {
			return false
		}
		groups++
		d := 0
		for j := 0; j < len(g); j++ {
			if isDigit(g[j]) {
				d++
			} else if !isLetter(g[j]) {
				return false
			}
		}
		digits += d
		if d != len(g) {
			allDigits = false
			// A non-numeric group must look random, not like a word.
			if d < 2 || len(g) < 8 || switches(g) < 2 {
				return false
			}
		}
	}
	switch {
	case upperPrefix && digits >= 3:
		return true
	case allDigits && digits >= 5:
		return true
	case allDigits && digits == 4 && groups == 1:
		return false // report-2024, summer-2023: a word and a year
	case !allDigits && digits >= 3:
		return true
	}
	return false
}

// classifyFile handles segments with a dot: stem.ext where ext is 1-8 alphanumerics.
func classifyFile(s string) Class {
	dot := strings.LastIndexByte(s, '.')
	stem, ext := s[:dot], s[dot+1:]
	if stem == "" || ext == "" || len(ext) > 8 {
		return Literal
	}
	for i := 0; i < len(ext); i++ {
		if !isAlnum(ext[i]) {
			return Literal
		}
	}
	if strings.IndexByte(stem, '.') >= 0 {
		return Literal
	}
	switch Classify(stem) {
	case Number, UUID, Hex, Token, PrefixedID, Date:
		return FileID
	}
	return Literal
}

// isToken recognises random identifiers: long base64url-ish strings mixing letters and
// digits inside one piece, or shorter alphanumerics that alternate letters and digits.
func isToken(s string, digits, lower, upper int) bool {
	letters := lower + upper
	if digits == 0 || letters == 0 {
		return false
	}
	if len(s) >= 16 {
		for s2 := s; s2 != ""; {
			var p string
			if k := strings.IndexAny(s2, "-_"); k >= 0 {
				p, s2 = s2[:k], s2[k+1:]
			} else {
				p, s2 = s2, ""
			}
			if len(p) >= 8 && (switches(p) >= 3 || len(p) >= 12 && switches(p) >= 1 && hasCaseMix(p)) {
				return true
			}
		}
		return false
	}
	if len(s) >= 8 && digits >= 3 && letters >= 2 && strings.IndexAny(s, "-_") < 0 {
		return switches(s) >= 4
	}
	return false
}

// switches counts changes between letters and digits.
func switches(s string) int {
	n, prev := 0, byte(0)
	for i := 0; i < len(s); i++ {
		var k byte
		switch {
		case isDigit(s[i]):
			k = 1
		case isLetter(s[i]):
			k = 2
		default:
			continue
		}
		if prev != 0 && k != prev {
			n++
		}
		prev = k
	}
	return n
}

// hasCaseMix reports an upper-case letter after the first character followed somewhere
// by a lower-case one (random base64), as opposed to an all-lower or all-upper string.
func hasCaseMix(s string) bool {
	var up, low bool
	for i := 1; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			up = true
		} else if 'a' <= s[i] && s[i] <= 'z' {
			low = true
		}
	}
	return up && low
}

func isDigit(c byte) bool    { return '0' <= c && c <= '9' }
func isLetter(c byte) bool   { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isAlnum(c byte) bool    { return isDigit(c) || isLetter(c) }
func isHexDigit(c byte) bool { return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

package identity

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// maxJWTBytes bounds the token length decoded; a longer bearer value is treated as opaque.
const maxJWTBytes = 16 << 10

// maxScopeBytes bounds the exported scope string; longer scopes are cut at a space.
const maxScopeBytes = 1024

var (
	errNotJWT     = errors.New("not a three-part JWS compact token")
	errJWTBase64  = errors.New("jwt payload is not base64url")
	errJWTJSON    = errors.New("jwt payload is not a JSON object")
	errJWTTooLong = errors.New("jwt longer than the decode limit")
)

// Claims are the JWT claims identity reads. Values are kept as sent.
type Claims struct {
	Sub, Iss, Azp, ClientID string
	// Scope is the scope claim, or scp joined with spaces.
	Scope string
	// ActSub is act.sub (RFC 8693): the party currently acting for Sub.
	ActSub string
}

// Actor is the agent acting for the subject: act.sub, else azp, else client_id; "" when
// it is the subject itself.
func (c *Claims) Actor() string {
	a := c.ActSub
	if a == "" {
		a = c.Azp
	}
	if a == "" {
		a = c.ClientID
	}
	if a == c.Sub {
		return ""
	}
	return a
}

// ParseJWT decodes the claims of a JWS compact token without verifying its signature.
// It never panics; any input that is not three base64url parts with a JSON object in the
// middle is an error.
func ParseJWT(tok string) (Claims, error) {
	var c Claims
	if len(tok) > maxJWTBytes {
		return c, errJWTTooLong
	}
	i := strings.IndexByte(tok, '.')
	if i <= 0 {
		return c, errNotJWT
	}
	rest := tok[i+1:]
	j := strings.IndexByte(rest, '.')
	if j <= 0 || strings.IndexByte(rest[j+1:], '.') >= 0 {
		return c, errNotJWT
	}
	payload := strings.TrimRight(rest[:j], "=")
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return c, errJWTBase64
	}
	var w wireClaims
	if err := json.Unmarshal(raw, &w); err != nil {
		return c, errJWTJSON
	}
	c = Claims{
		Sub: string(w.Sub), Iss: string(w.Iss), Azp: string(w.Azp), ClientID: string(w.ClientID),
		Scope: string(w.Scope),
	}
	if c.Scope == "" {
		c.Scope = string(w.Scp)
	}
	c.Scope = capScope(c.Scope)
	if w.Act != nil {
		c.ActSub = string(w.Act.Sub)
	}
	return c, nil
}

// wireClaims is the payload as it may arrive: claims some issuers send as numbers or
// arrays are accepted in either form.
type wireClaims struct {
	Sub      flexString `json:"sub"`
	Iss      flexString `json:"iss"`
	Azp      flexString `json:"azp"`
	ClientID flexString `json:"client_id"`
	Scope    flexString `json:"scope"`
	Scp      flexString `json:"scp"`
	Act      *struct {
		Sub flexString `json:"sub"`
	} `json:"act"`
}

// flexString accepts a JSON string, number, boolean, null or array of those (joined by
// spaces, as scp arrays are). Objects decode to "".
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	switch b[0] {
	case '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
	case '[':
		var parts []json.RawMessage
		if err := json.Unmarshal(b, &parts); err != nil {
			return err
		}
		var sb strings.Builder
		for _, p := range parts {
			var v flexString
			if len(p) > 0 && (p[0] == '[' || p[0] == '{') {
				continue
			}
			if err := v.UnmarshalJSON(p); err != nil {
				return err
			}
			if v == "" {
				continue
			}
			if sb.Len() > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(string(v))
		}
		*f = flexString(sb.String())
	case '{', 'n':
		*f = ""
	default: // number or boolean, kept as written
		if _, err := strconv.ParseFloat(string(b), 64); err != nil && string(b) != "true" && string(b) != "false" {
			return errJWTJSON
		}
		*f = flexString(b)
	}
	return nil
}

func capScope(s string) string {
	if len(s) <= maxScopeBytes {
		return s
	}
	if i := strings.LastIndexByte(s[:maxScopeBytes], ' '); i > 0 {
		return s[:i]
	}
	return s[:maxScopeBytes]
}

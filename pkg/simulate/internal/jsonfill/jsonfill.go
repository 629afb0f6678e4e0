package jsonfill

import (
	"math/rand/v2"
	"strconv"
)

var (
	keys  = []string{"id", "name", "status", "amount", "currency", "created_at", "updated_at", "sku", "qty", "price", "title", "note", "ref", "city", "country", "tags", "score", "type", "owner", "region"}
	vals  = []string{"active", "pending", "shipped", "EUR", "USD", "GBP", "blue", "standard", "express", "Berlin", "Lyon", "Porto", "Oslo", "Austin", "gift", "sale", "new", "archived", "primary", "secondary"}
	stamp = "2026-01-05T09:12:44Z"
)

// Append appends a JSON object of roughly size bytes (at least a dozen) to dst: a
// "data" array of records, closed properly so the body always parses.
func Append(dst []byte, rng *rand.Rand, size int) []byte {
	start := len(dst)
	dst = append(dst, `{"data":[`...)
	first := true
	for len(dst)-start < size-40 || first {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendRecord(dst, rng)
	}
	dst = append(dst, `],"total":`...)
	dst = strconv.AppendInt(dst, int64(rng.IntN(5000)), 10)
	return append(dst, '}')
}

// AppendError appends a small JSON error document for status code.
func AppendError(dst []byte, rng *rand.Rand, code int) []byte {
	dst = append(dst, `{"error":{"code":`...)
	dst = strconv.AppendInt(dst, int64(code), 10)
	dst = append(dst, `,"message":"`...)
	dst = append(dst, errorText(code)...)
	dst = append(dst, `","request_id":"`...)
	dst = strconv.AppendUint(dst, rng.Uint64(), 36)
	return append(dst, `"}}`...)
}

func errorText(code int) string {
	switch code {
	case 400:
		return "invalid request parameters"
	case 401:
		return "invalid credentials"
	case 402:
		return "payment required"
	case 403:
		return "forbidden"
	case 404:
		return "not found"
	case 409:
		return "conflict with current state"
	case 422:
		return "unprocessable entity"
	case 429:
		return "too many requests"
	case 500:
		return "internal server error"
	case 502:
		return "bad gateway"
	case 503:
		return "service unavailable"
	}
	return "error"
}

func appendRecord(dst []byte, rng *rand.Rand) []byte {
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendInt(dst, int64(rng.IntN(9_000_000)+1000), 10)
	n := 3 + rng.IntN(5)
	for i := 0; i < n; i++ {
		dst = append(dst, ',', '"')
		k := keys[1+rng.IntN(len(keys)-1)]
		dst = append(dst, k...)
		dst = append(dst, '"', ':')
		switch rng.IntN(4) {
		case 0:
			dst = strconv.AppendInt(dst, int64(rng.IntN(100000)), 10)
		case 1:
			dst = strconv.AppendFloat(dst, float64(rng.IntN(100000))/100, 'f', 2, 64)
		case 2:
			dst = append(dst, '"')
			dst = append(dst, stamp...)
			dst = append(dst, '"')
		default:
			dst = append(dst, '"')
			dst = append(dst, vals[rng.IntN(len(vals))]...)
			dst = append(dst, '"')
		}
	}
	return append(dst, '}')
}

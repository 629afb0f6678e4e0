// Package identity attributes an HTTP request to a client: who sent it (principal), which
// agent acted for them (actor), how they authenticated, a keyed fingerprint of the
// credential, the source address and the trace id.
//
// # Rules, in order
//
// The first rule that yields an identity wins (DESIGN.md, Identity):
//
//  1. Authorization: Bearer <JWT> (or an access_token query parameter). The token is
//     decoded, never verified: a passive sensor has no keys and must still attribute
//     calls. Claims read: sub, iss, azp, client_id, scope or scp, and act.sub (RFC 8693
//     delegation). A token that is not a decodable JWT is counted as malformed and treated
//     as an opaque bearer credential by rule 3.
//  2. Authorization: Basic. Only the user is kept; the password only enters the
//     fingerprint of the whole credential. A Basic credential with an empty password is
//     an API key sent as the user name and goes to rule 3. Authorization: Digest gives
//     its user name the same way (auth "basic"; user and realm are fingerprinted, since
//     the response changes with every nonce).
//  3. API keys: the configured headers (default X-API-Key, Api-Key), then the configured
//     query parameters (default api_key), then an opaque credential from Authorization:
//     a bearer token that is not a JWT, another scheme's token (Token, ApiKey, SSWS...),
//     or the access key id of AWS SigV4. NTLM and Negotiate blobs change with every
//     handshake and are not used.
//  4. Session cookies by name (defaults in DefaultSessionCookies).
//  5. The source address: the TCP peer, or, when the peer is a trusted proxy, the
//     rightmost address of Forwarded (preferred) or X-Forwarded-For that is not itself a
//     trusted proxy. Repeated header lines are combined in order, so a proxy that adds
//     its own line after the client's is honoured.
//
// # client_id
//
// client_id is "kind:value", readable and stable across sensors sharing a key:
//
//	jwt:alice               JWT sub
//	jwt:alice|agent:bot-7   JWT sub acted for by act.sub (else azp, else client_id claim)
//	agent:svc-billing       JWT without sub, with an actor (client-credentials tokens)
//	jwtfp:<fp>              JWT with neither: the token's fingerprint
//	basic:bob               Basic-auth (or Digest) user
//	apikey:<fp>             API key (header, query parameter, opaque Authorization credential)
//	cookie:<fp>             session cookie
//	ip:203.0.113.9          source address (after trusted-proxy resolution)
//
// In sub, actor and user, '%' and '|' are percent-escaped so the separator cannot be
// forged by a claim. The actor is omitted when it equals sub. The issuer is not part of
// client_id (it is exported as iss).
//
// # Fingerprints
//
// cred_fp is the first 16 bytes of HMAC-SHA256(key, kind + 0x00 + credential), hex
// encoded (32 characters). Sensors configured with the same key produce the same
// fingerprints, so a client keeps its id across sensors. ResolveKey finds the key: an
// explicit key, else the APISCOPE_FP_KEY environment variable, else a key generated once
// and kept in a state file (with a warning, since other sensors will not share it).
//
// Malformed input (a JWT that does not decode, a cookie pair without '=', a bad
// traceparent, an unparseable forwarded address) is counted in
// apiscope_identity_malformed_total{what=...} and the next rule applies; nothing panics.
// A Resolver is safe for concurrent use.
package identity

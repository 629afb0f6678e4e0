// Package jsonfill writes plausible JSON documents of about a requested size, fast and
// deterministically (every choice comes from the caller's random stream): response
// bodies of simulated calls, request bodies and error documents.
package jsonfill

package sensor

import "github.com/apiscope/apiscope/sensor/decode"

// newDecoder returns the dispatcher's decoder. The dispatcher holds the concrete type:
// a call through an interface per frame buys nothing with one implementation.
func newDecoder(cfg *decode.Config) *decode.Decoder { return decode.NewDecoder(*cfg) }

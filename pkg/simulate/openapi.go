package simulate

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/apiscope/apiscope/pkg/simulate/world"
)

// OpenAPIDir is the directory, inside Options.OutDir, holding one OpenAPI 3 document per
// service. Shadow endpoints are left out, so a sensor given these documents flags them
// (and fuzzed paths) as shadow.
const OpenAPIDir = "openapi"

// writeOpenAPI writes dir/openapi/<service>.json for every service.
func writeOpenAPI(dir string, svcs []*world.Service) ([]string, error) {
	od := filepath.Join(dir, OpenAPIDir)
	if err := os.MkdirAll(od, 0o755); err != nil {
		return nil, fmt.Errorf("create openapi directory: %w", err)
	}
	var files []string
	for _, sv := range svcs {
		url := "http://" + sv.Host
		if sv.Port != 80 {
			url += ":" + strconv.Itoa(int(sv.Port))
		}
		paths := map[string]map[string]any{}
		for _, ep := range sv.Endpoints {
			if ep.Shadow() {
				continue
			}
			ops := paths[ep.Template]
			if ops == nil {
				ops = map[string]any{}
				paths[ep.Template] = ops
			}
			op := map[string]any{
				"operationId": ep.Name,
				"responses":   map[string]any{"default": map[string]any{"description": "response"}},
			}
			var params []any
			for _, seg := range strings.Split(ep.Template, "/") {
				if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
					params = append(params, map[string]any{
						"name": seg[1 : len(seg)-1], "in": "path", "required": true,
						"schema": map[string]any{"type": "string"},
					})
				}
			}
			if len(params) > 0 {
				op["parameters"] = params
			}
			ops[strings.ToLower(ep.Method)] = op
		}
		doc := map[string]any{
			"openapi": "3.0.3",
			"info":    map[string]any{"title": sv.Name, "version": "1.0.0"},
			"servers": []any{map[string]any{"url": url}},
			"paths":   paths,
		}
		// encoding/json sorts map keys, so the document is byte-stable.
		b, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			return nil, err
		}
		p := filepath.Join(od, sv.Name+".json")
		if err := os.WriteFile(p, append(b, '\n'), 0o644); err != nil {
			return nil, fmt.Errorf("write %s: %w", p, err)
		}
		files = append(files, p)
	}
	sort.Strings(files)
	return files, nil
}

// Command writ-manifest-check validates rendered Kubernetes manifests strictly, offline: what
// kubeconform does, without its network. Every document of the YAML streams given (or stdin) must
// be either a kind of the Kubernetes API (decoded into its Go type with unknown and duplicate
// fields refused, so a misspelt or misplaced field fails) or a custom resource with a JSON schema
// in -schemas named <kind>-<group>-<version>.json (kubeconform's layout), validated with
// additionalProperties false where the schema says so. A kind with neither is an error.
// Prints one line per document and exits 1 when any is invalid.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

func main() {
	schemas := flag.String("schemas", "", "folder of JSON schemas for custom resources (<kind>-<group>-<version>.json)")
	dump := flag.String("dump", "", "also write every document, as JSON, into this file (one JSON array): for tests that read the manifests")
	flag.Parse()
	var dumped []json.RawMessage
	strict := kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme.Scheme, scheme.Scheme, kjson.SerializerOptions{Yaml: true, Strict: true})
	compiled := map[string]*jsonschema.Schema{}
	compiler := jsonschema.NewCompiler()

	inputs := flag.Args()
	if len(inputs) == 0 {
		inputs = []string{"-"}
	}
	valid, invalid := 0, 0
	for _, input := range inputs {
		var reader io.Reader
		if input == "-" {
			reader = os.Stdin
		} else {
			file, err := os.Open(input)
			if err != nil {
				fail(err)
			}
			defer file.Close()
			reader = file
		}
		stream := utilyaml.NewYAMLReader(bufio.NewReader(reader))
		for {
			doc, err := stream.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				fail(err)
			}
			if len(bytes.TrimSpace(stripComments(doc))) == 0 {
				continue
			}
			if *dump != "" {
				asJSON, err := yaml.YAMLToJSON(doc)
				if err != nil {
					fail(err)
				}
				dumped = append(dumped, asJSON)
			}
			name, err := check(doc, strict, compiler, compiled, *schemas)
			if err != nil {
				invalid++
				fmt.Printf("INVALID %s: %v\n", name, err)
			} else {
				valid++
				fmt.Printf("valid %s\n", name)
			}
		}
	}
	if *dump != "" {
		out, err := json.Marshal(dumped)
		if err != nil {
			fail(err)
		}
		if err := os.WriteFile(*dump, out, 0o644); err != nil {
			fail(err)
		}
	}
	fmt.Printf("%d valid, %d invalid\n", valid, invalid)
	if invalid > 0 {
		os.Exit(1)
	}
}

func check(doc []byte, strict runtime.Decoder, compiler *jsonschema.Compiler, compiled map[string]*jsonschema.Schema, dir string) (string, error) {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return "?", err
	}
	name := fmt.Sprintf("%s %s/%s", head.Kind, head.APIVersion, head.Metadata.Name)
	if head.APIVersion == "" || head.Kind == "" {
		return name, errors.New("apiVersion and kind are required")
	}
	gv, err := schema.ParseGroupVersion(head.APIVersion)
	if err != nil {
		return name, err
	}
	gvk := gv.WithKind(head.Kind)
	if scheme.Scheme.Recognizes(gvk) {
		_, _, err := strict.Decode(doc, &gvk, nil)
		return name, err
	}
	if dir == "" {
		return name, fmt.Errorf("no schema for %s (not a Kubernetes API kind, and no -schemas folder)", gvk)
	}
	file := filepath.Join(dir, strings.ToLower(fmt.Sprintf("%s-%s-%s.json", head.Kind, strings.Split(gv.Group, ".")[0], gv.Version)))
	compiledSchema, ok := compiled[file]
	if !ok {
		if _, err := os.Stat(file); err != nil {
			return name, fmt.Errorf("no schema for %s: %s is missing", gvk, file)
		}
		compiledSchema, err = compiler.Compile(file)
		if err != nil {
			return name, fmt.Errorf("schema %s: %w", file, err)
		}
		compiled[file] = compiledSchema
	}
	asJSON, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return name, err
	}
	value, err := jsonschema.UnmarshalJSON(bytes.NewReader(asJSON))
	if err != nil {
		return name, err
	}
	if err := compiledSchema.Validate(value); err != nil {
		return name, errors.New(strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return name, nil
}

func stripComments(doc []byte) []byte {
	var out bytes.Buffer
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out.Write(line)
			out.WriteByte('\n')
		}
	}
	return out.Bytes()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(2)
}

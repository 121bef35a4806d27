package main

// Settings are vpcctl's own configuration (where OVS is, how to log, what the
// daemon serves), not the topology. Every setting is a flag; viper layers its
// value: command line > VPCCTL_* environment > config file > built-in default.

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

const (
	defaultConfigFile = "/etc/vpcctl/config.yaml"
	envPrefix         = "VPCCTL_"
	configFlag        = "config"
)

// settingsCommands are the commands whose own flags are settings too: the
// daemon is what a service manager runs, configured by environment and file,
// so a flag added to it is a setting with no further code.
var settingsCommands = map[string]bool{"daemon": true}

// notSettings say what to do this one time: they are read from the command
// line only, even where the rule of isSetting would make them settings.
var notSettings = map[string]bool{
	configFlag: true, // where the settings are; VPCCTL_CONFIG is read for it by hand
	"file":     true, // the topology of this run (-f)
	"output":   true, // -o: a script parsing table output must not get json
	"verbose":  true, // -v: a shorthand for --log-level debug
	"help":     true,
}

// isSetting says whether flag f, seen by command c, is a setting: a
// persistent flag of the root command, or a flag of a settings command,
// unless it is one of notSettings. Every other flag (-f, --tcp, --live,
// --bridge, ...) is never read from the environment or the file.
func isSetting(c *cobra.Command, f *pflag.Flag) bool {
	if notSettings[f.Name] {
		return false
	}
	if c.Root().PersistentFlags().Lookup(f.Name) == f {
		return true
	}
	return settingsCommands[c.Name()] && c.LocalFlags().Lookup(f.Name) == f
}

// envName is the environment variable of a setting: VPCCTL_ + upper case, - as _.
func envName(flag string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// settingKeys are the keys a config file may hold: every setting of every
// command, since one file serves them all.
func settingKeys(root *cobra.Command) []string {
	var keys []string
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if isSetting(c, f) && !slices.Contains(keys, f.Name) {
				keys = append(keys, f.Name)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	slices.Sort(keys)
	return keys
}

// settings remembers where each setting's value came from, for messages.
type settings struct {
	source map[string]string // setting -> "--NAME", "VPCCTL_NAME", "FILE: key NAME"; absent = default
}

// describe names a setting with its value's origin: `--ovsdb "x" (from VPCCTL_OVSDB)`.
func (s *settings) describe(name, value string) string {
	if src, ok := s.source[name]; ok && src != "--"+name {
		return fmt.Sprintf("--%s %q (from %s)", name, value, src)
	}
	return fmt.Sprintf("--%s %q", name, value)
}

// loadSettings binds every flag of cmd (the command being run) to a viper
// instance, reads the config file and the environment for the settings among
// them, and writes each resolved value back into its flag, so that commands
// keep reading plain flag variables. A value taken from the environment or the
// file counts as given (the flag is marked changed). defaultFile is the config
// file read when neither --config nor VPCCTL_CONFIG names one; it may be
// missing.
func loadSettings(cmd *cobra.Command, defaultFile string) (*settings, error) {
	s := &settings{source: map[string]string{}}
	v := viper.New()
	flags := cmd.Flags()

	path, explicit := defaultFile, false
	if f := flags.Lookup(configFlag); f != nil && f.Changed {
		path, explicit = f.Value.String(), true
	} else if e := os.Getenv(envName(configFlag)); e != "" {
		path, explicit = e, true
	}
	data, err := os.ReadFile(path)
	switch {
	case path == "": // --config "": no file
	case errors.Is(err, fs.ErrNotExist) && !explicit:
	case err != nil:
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		from := "--" + configFlag
		if !flags.Changed(configFlag) {
			from = envName(configFlag)
		}
		return nil, fmt.Errorf("config file %s (from %s): %w", path, from, err)
	default:
		if err := checkConfigKeys(data, path, settingKeys(cmd.Root())); err != nil {
			return nil, err
		}
		v.SetConfigType("yaml")
		if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
			return nil, fmt.Errorf("config file %s: %w", path, err)
		}
	}

	var errs []error
	flags.VisitAll(func(f *pflag.Flag) {
		if err := v.BindPFlag(f.Name, f); err != nil {
			errs = append(errs, err)
			return
		}
		if !isSetting(cmd, f) {
			return
		}
		env := envName(f.Name)
		if err := v.BindEnv(f.Name, env); err != nil {
			errs = append(errs, err)
			return
		}
		switch {
		case f.Changed:
			s.source[f.Name] = "--" + f.Name
			return
		case os.Getenv(env) != "":
			s.source[f.Name] = env
		case v.InConfig(f.Name):
			s.source[f.Name] = fmt.Sprintf("%s: key %s", path, f.Name)
		default:
			return // the flag's default
		}
		value := flagString(v.Get(f.Name))
		if err := flags.Set(f.Name, value); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not a valid --%s: %w", s.source[f.Name], value, f.Name, err))
		}
	})
	return s, errors.Join(errs...)
}

// flagString turns a value viper found (an environment string, a YAML scalar
// or list) into the text a flag parses.
func flagString(v any) string {
	if l, ok := v.([]any); ok {
		s := make([]string, len(l))
		for i, e := range l {
			s[i] = fmt.Sprint(e)
		}
		return strings.Join(s, ",")
	}
	return fmt.Sprint(v)
}

// checkConfigKeys is as strict as the topology loader: the file is one YAML
// mapping of settings, each key exactly a setting's name (viper would fold case
// and accept anything), each value a scalar or a list of scalars.
func checkConfigKeys(data []byte, path string, known []string) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("config file %s: invalid YAML: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil // empty file: no settings
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("config file %s: line %d: want a mapping of settings (%s)", path, root.Line, strings.Join(known, ", "))
	}
	var errs []error
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, val := root.Content[i], root.Content[i+1]
		switch {
		case k.Kind != yaml.ScalarNode || !slices.Contains(known, k.Value):
			errs = append(errs, fmt.Errorf("config file %s: line %d: unknown key %q (settings: %s)", path, k.Line, k.Value, strings.Join(known, ", ")))
		case seen[k.Value]:
			errs = append(errs, fmt.Errorf("config file %s: line %d: key %s given twice", path, k.Line, k.Value))
		case !plainValue(val):
			errs = append(errs, fmt.Errorf("config file %s: line %d: key %s: want a value or a list of values", path, k.Line, k.Value))
		}
		seen[k.Value] = true
	}
	return errors.Join(errs...)
}

// plainValue is a non-null scalar or a list of them.
func plainValue(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.ScalarNode:
		return n.Tag != "!!null"
	case yaml.SequenceNode:
		for _, e := range n.Content {
			if e.Kind != yaml.ScalarNode || e.Tag == "!!null" {
				return false
			}
		}
		return true
	}
	return false
}

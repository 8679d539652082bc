package main

import (
	"time"

	"github.com/spf13/cobra"
)

// completionTimeout bounds how long a completion asks superd for names; a
// shell waits on it at every TAB.
const completionTimeout = 2 * time.Second

// completionCommand is `superctl completion bash|zsh|fish`.
func (a *app) completionCommand(root *cobra.Command) *cobra.Command {
	shells := []string{"bash", "zsh", "fish"}
	return &cobra.Command{
		Use:   "completion bash|zsh|fish",
		Short: "Print a shell completion script",
		Long: `Print the completion script for bash, zsh or fish on stdout. Load it in the
current shell, or install it where the shell looks for completions. It
completes verbs, flags, signal names, and the program and instance names of
the running superd.`,
		Example: `  source <(superctl completion bash)
  superctl completion zsh > "${fpath[1]}/_superctl"
  superctl completion fish > ~/.config/fish/completions/superctl.fish`,
		ValidArgs: shells,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("completion needs one shell: bash, zsh or fish")
			}
			for _, s := range shells {
				if args[0] == s {
					return nil
				}
			}
			return usagef("unsupported shell %q: want bash, zsh or fish", args[0])
		},
		RunE: runE(func(_ *cobra.Command, args []string) error {
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(a.stdout, true)
			case "zsh":
				return root.GenZshCompletion(a.stdout)
			default:
				return root.GenFishCompletion(a.stdout, true)
			}
		}),
	}
}

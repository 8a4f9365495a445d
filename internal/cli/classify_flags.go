package cli

import (
	"flag"

	"github.com/cobatch/cobatch/pipeline"
)

// classifyFlags choose a classify job's route (-via) and its labels.
type classifyFlags struct {
	via        string
	labels     ListFlag
	multiLabel bool
}

func (c *classifyFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.via, "via", pipeline.ViaAuto, "classify route: classify (a fine-tuned model, /v1/classify), embed (-examples embedded, nearest label centroid), chat (a chat model picks one of -labels) or auto (fine-tuned -model → classify; -examples → embed; -labels alone → chat)")
	fs.Var(&c.labels, "labels", "classify: the labels, comma-separated (default: those of -examples); the chat route needs them or -examples")
	fs.BoolVar(&c.multiLabel, "multi-label", false, "classify (embed and chat routes): a record may take several labels, written to labels_predicted")
}

// apply sets the classify options of a classify job and checks that each
// example's label is one of -labels, naming the example's line.
func (c *classifyFlags) apply(spec *pipeline.Spec, op, examples string) error {
	if op != pipeline.OpClassify {
		return nil
	}
	spec.Via, spec.Labels, spec.MultiLabel = c.via, c.labels, c.multiLabel
	if examples != "" && len(c.labels) > 0 {
		return pipeline.CheckExampleLabels(examples, c.labels)
	}
	return nil
}

package input

// Check reports what Split would of the paths themselves — one that matches
// nothing, cannot be opened or is a directory — without reading a file, so
// that a command can refuse a missing input before it plans anything.
func Check(paths []string) error {
	_, err := expand(paths)
	return err
}

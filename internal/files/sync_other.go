//go:build unix && !linux

package files

// haveSyncFS is false here: staged blocks are fsynced one by one as they
// are written, and syncDirs syncs each directory.
const haveSyncFS = false

// syncDirs makes the entries of dirs durable.
func syncDirs(dirs []string) error {
	for _, d := range dirs {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	return nil
}

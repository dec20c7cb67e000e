// The `aecnn` executable: only the entry point; every command lives in AECNNCommands.
import AECNNCommands

@main
struct Entry {
    static func main() async { await AECNNMain.main() }
}

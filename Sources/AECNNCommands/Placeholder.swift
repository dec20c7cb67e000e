public enum AECNNMain { public static func main() async {} }

// One optimisation step and batched evaluation: the inner loops every training stage and the benchmark share.

import TensorCore
import Autograd
import NN
import Methods

public enum TrainStep {
    /// Forward, softmax cross-entropy (plus the rate term of an entropy-bottleneck bridge, λ · bits per
    /// image), backward, optimizer update. Returns (loss, correct predictions).
    @discardableResult
    public static func run(_ model: Module, _ optimizer: Optimizer, x: Tensor, labels: [Int32]) -> (loss: Float, correct: Int) {
        let logits = model(Variable(x))
        var loss = softmaxCrossEntropy(logits, labels: labels)
        if let bridge = (model as? CoInferenceModel)?.bridge as? EntropicBridge, let rate = bridge.rateLoss() { loss = loss + rate }
        let predictions = argmaxRows(logits.value)
        loss.backward()
        optimizer.step()
        var correct = 0
        for (p, y) in zip(predictions, labels) where p == Int(y) { correct += 1 }
        return (loss.value[0], correct)
    }

    /// Logits for a batch in inference mode (no graph recorded).
    public static func infer(_ model: Module, x: Tensor) -> Tensor {
        GradMode.withoutGrad { model(Variable(x)).value }
    }
}

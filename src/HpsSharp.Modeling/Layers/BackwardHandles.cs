using static TorchSharp.torch;

namespace HpsSharp.Modeling.Layers;

/// <summary>
/// Early release of the managed handles of custom autograd functions' gradients. TorchSharp (0.107) wraps the gradient
/// a custom <c>backward</c> receives, and keeps the gradients it returns, in handles that belong to whatever dispose
/// scope is current when the engine calls it: during a training step that is the step's scope, so every custom node
/// would keep its incoming and outgoing gradients allocated until the step ends (at 7B widths ≈ 0.15 GB per decoder
/// layer and sequence for the LoRA adapters). The engine has taken its own references once a callback has returned,
/// so each custom backward releases the handles of the one before it on this thread; the last ones go with the scope.
/// </summary>
internal static class BackwardHandles
{
    [ThreadStatic]
    private static List<Tensor>? _pending;

    /// <summary>Releases the handles of the custom backward calls that already returned on this thread.</summary>
    public static void ReleaseReturned()
    {
        if (_pending is null)
        {
            return;
        }

        foreach (var t in _pending)
        {
            t.Dispose();
        }

        _pending.Clear();
    }

    /// <summary>
    /// Hands <paramref name="gradients"/> to the engine (out of the backward's dispose scope) and marks them, with the
    /// incoming <paramref name="gradOutput"/>, for release by the next custom backward on this thread.
    /// </summary>
    public static List<Tensor> Return(List<Tensor> gradients, Tensor gradOutput)
    {
        ReleaseReturned();
        _pending ??= [];
        foreach (var g in gradients)
        {
            if (g is not null)
            {
                g.MoveToOuterDisposeScope();
                _pending.Add(g);
            }
        }

        _pending.Add(gradOutput);
        return gradients;
    }
}

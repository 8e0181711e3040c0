namespace Functional.Distributed;

/// <summary>How <see cref="Communicator.AllReduce(Trees.TensorTree, ReduceOp)"/> combines the ranks' values.</summary>
public enum ReduceOp
{
    /// <summary>The sum over ranks.</summary>
    Sum,
    /// <summary>The sum over ranks divided by the number of ranks.</summary>
    Mean,
    /// <summary>The largest value of any rank.</summary>
    Max,
    /// <summary>The smallest value of any rank.</summary>
    Min,
}

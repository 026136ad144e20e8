"""What IterativeSAC and IterativeTQC share: the iterative actor, and the iterative part of their
policies and of their training (mixins placed before the base algorithm's classes)."""

"""The template's IAM, enforced offline: each component's calls run as its role and are judged by its policies."""

"""sluice: serverless CSV ETL on AWS that also runs offline."""

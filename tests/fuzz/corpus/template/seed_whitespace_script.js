var items = {% raw json_encode(items) %};


    var   x =   1;
